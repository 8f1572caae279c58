"""German and English pages, the language switch, and the committed translation catalogue."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.mofile import read_mo, write_mo
from babel.messages.pofile import read_po

from billhive.platform.i18n import LANGUAGE_COOKIE, safe_next

ROOT = Path(__file__).resolve().parents[3]
CATALOG_DIR = ROOT / "billhive/platform/translations/de/LC_MESSAGES"
KEYWORDS = {"_": None, "gettext": None, "_l": None, "lazy_gettext": None}


def _po() -> Any:
    with (CATALOG_DIR / "messages.po").open("rb") as handle:
        return read_po(handle, locale="de")


def _extracted_ids() -> set[str]:
    with (ROOT / "babel.cfg").open(encoding="utf-8") as handle:
        method_map, options_map = parse_mapping_cfg(handle)
    found = extract_from_dir(
        str(ROOT), method_map, options_map, keywords={**KEYWORDS}, strip_comment_tags=True
    )
    return {message for _file, _line, message, _comments, _context in found if message}


def test_english_is_the_default_language(client: Any) -> None:
    page = client.get("/signup").get_data(as_text=True)
    assert '<html lang="en">' in page
    assert "Connect your Billbee account" in page


def test_a_browser_preferring_german_gets_german(client: Any) -> None:
    response = client.get("/signup", headers={"Accept-Language": "de-DE,de;q=0.9,en;q=0.5"})
    page = response.get_data(as_text=True)
    assert '<html lang="de">' in page
    assert "Billbee-Konto verbinden" in page
    assert "Allgemeine Einstellungen" in page


def test_a_browser_preferring_another_language_gets_english(client: Any) -> None:
    page = client.get("/signup", headers={"Accept-Language": "fr-FR,fr"}).get_data(as_text=True)
    assert '<html lang="en">' in page


def test_the_switch_remembers_the_choice_and_returns_to_the_page(client: Any) -> None:
    response = client.get("/language/de?next=/signup")
    assert response.status_code == 303
    assert response.headers["Location"] == "/signup"
    assert client.get_cookie(LANGUAGE_COOKIE).value == "de"
    page = client.get("/signup", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert "Billbee-Konto verbinden" in page


def test_the_switch_back_to_english_wins_over_a_german_browser(client: Any) -> None:
    client.get("/language/en?next=/signup")
    page = client.get("/signup", headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert '<html lang="en">' in page


def test_an_unknown_language_is_ignored(client: Any) -> None:
    response = client.get("/language/xx?next=/signup")
    assert response.status_code == 303
    assert client.get_cookie(LANGUAGE_COOKIE) is None


def test_every_page_links_to_the_other_language(client: Any) -> None:
    page = client.get("/").get_data(as_text=True)
    assert 'href="/language/de?next=/"' in page


@pytest.mark.parametrize(
    "target", ["https://evil.test/", "//evil.test/x", "/\\evil.test", "javascript:alert(1)", ""]
)
def test_the_switch_never_redirects_off_the_site(target: str) -> None:
    assert safe_next(target) == "/"


def test_german_rule_messages_are_shown_next_to_the_field(app: Any, client: Any) -> None:
    from support.signup import accepting, post_signup, use_verifier

    use_verifier(app, accepting)
    client.get("/language/de?next=/signup")
    page = post_signup(client, api_password="nouppercase1!x").get_data(as_text=True)
    assert "Mindestens ein Großbuchstabe (A-Z)." in page


def test_the_compiled_catalogue_matches_the_po_file() -> None:
    catalog = _po()
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    compiled.seek(0)
    fresh = {m.id: m.string for m in read_mo(compiled) if m.id}
    with (CATALOG_DIR / "messages.mo").open("rb") as handle:
        committed = {m.id: m.string for m in read_mo(handle) if m.id}
    assert committed == fresh, "run: pybabel compile -d billhive/platform/translations"


def test_the_po_file_has_every_message_of_the_code_and_templates() -> None:
    in_po = {m.id for m in _po() if m.id}
    missing = _extracted_ids() - in_po
    assert not missing, f"run the extract/update commands in docs/signup.md: {sorted(missing)}"


def test_every_message_is_translated_and_not_fuzzy() -> None:
    untranslated = [m.id for m in _po() if m.id and (not m.string or m.fuzzy)]
    assert untranslated == []


def test_translations_keep_the_placeholders_of_the_original() -> None:
    placeholder = re.compile(r"%\((\w+)\)[sd]")
    for message in _po():
        if message.id:
            assert set(placeholder.findall(message.id)) == set(
                placeholder.findall(message.string)
            ), message.id
