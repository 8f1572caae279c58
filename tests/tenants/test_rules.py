"""Billbee's password and username rules."""

from __future__ import annotations

import pytest

from billhive.tenants.rules import (
    PASSWORD_SPECIALS,
    normalize_username,
    password_problems,
    username_problems,
)

VALID = "Abcdefgh1!xy"  # exactly 12 characters, every rule met


def codes(password: str) -> list[str]:
    return [p.code for p in password_problems(password)]


def test_a_password_meeting_every_rule_has_no_problems() -> None:
    assert password_problems(VALID) == []


def test_eleven_characters_are_too_short() -> None:
    assert codes("Abcdefg1!xy") == ["too_short"]


def test_twelve_characters_are_long_enough() -> None:
    assert len(VALID) == 12
    assert "too_short" not in codes(VALID)


def test_a_password_without_upper_case_is_refused() -> None:
    assert codes(VALID.lower()) == ["no_upper"]


def test_a_password_without_lower_case_is_refused() -> None:
    assert codes(VALID.upper()) == ["no_lower"]


def test_a_password_without_a_digit_is_refused() -> None:
    assert codes("Abcdefghi!xy") == ["no_digit"]


def test_a_password_without_a_special_character_is_refused() -> None:
    assert codes("Abcdefgh12xy") == ["no_special"]


@pytest.mark.parametrize("special", list(PASSWORD_SPECIALS))
def test_every_listed_special_character_counts(special: str) -> None:
    assert password_problems(f"Abcdefgh1{special}xy") == []


@pytest.mark.parametrize("other", ["-", "_", "?", ".", " ", "€", "§", "~", "=", "(", '"'])
def test_special_characters_outside_the_list_do_not_count(other: str) -> None:
    assert codes(f"Abcdefgh1{other}xy") == ["no_special"]


@pytest.mark.parametrize("password", [":" + VALID, VALID[:6] + ":" + VALID[6:], VALID + ":"])
def test_a_colon_anywhere_is_refused(password: str) -> None:
    assert codes(password) == ["has_colon"]


def test_each_broken_rule_gets_its_own_problem() -> None:
    assert codes("") == ["too_short", "no_upper", "no_lower", "no_digit", "no_special"]


def test_password_problems_belong_to_the_password_field_and_never_quote_it() -> None:
    password = "short:Pw"
    problems = password_problems(password)
    assert problems
    assert {p.field for p in problems} == {"password"}
    assert all(password not in p.message for p in problems)


def test_a_normal_username_has_no_problems() -> None:
    assert username_problems("merchant@shop.example") == []


@pytest.mark.parametrize("username", ["", "   ", "\t\n"])
def test_an_empty_username_is_refused(username: str) -> None:
    assert [p.code for p in username_problems(username)] == ["empty"]


def test_a_username_of_254_characters_is_accepted() -> None:
    assert username_problems("u" * 254) == []


def test_a_username_of_255_characters_is_too_long() -> None:
    assert [p.code for p in username_problems("u" * 255)] == ["too_long"]


def test_a_username_is_trimmed_before_its_length_is_checked() -> None:
    assert username_problems("  " + "u" * 254 + "  ") == []


def test_a_username_with_a_colon_is_refused() -> None:
    assert [p.code for p in username_problems("shop:admin")] == ["has_colon"]


def test_normalizing_a_username_trims_and_casefolds_it() -> None:
    assert normalize_username("  Shop@Example.COM ") == "shop@example.com"
