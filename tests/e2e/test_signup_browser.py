"""A merchant signs up in a real headless Chromium, against the platform and the sandbox."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from support.browser import (
    LIVE_PASSWORD,
    LIVE_USERNAME,
    OFF_PASSWORD,
    OFF_USERNAME,
    Platform,
)

pytestmark = pytest.mark.browser


def fill_signup(page: Any, platform: Platform, **values: Any) -> None:
    """Open /signup and fill every field (``values`` override); does not submit."""
    page.goto(platform.url + "/signup")
    fields = {
        "display_name": "Kräuterladen Müller",
        "contact_email": "inhaber@kraeuterladen.de",
        "billbee_username": LIVE_USERNAME,
        "api_password": LIVE_PASSWORD,
        **values,
    }
    for name, value in fields.items():
        page.locator(f"#{name}").fill(value)
    page.locator("#invoice_creation_allowed").check()
    page.locator("#consent").check()


def submit(page: Any) -> None:
    """Send the signup form with its button, as a merchant would."""
    page.locator("form button[type=submit]").click()
    page.wait_for_load_state()


def test_a_merchant_signs_up_and_sees_the_confirmation(
    open_page: Callable[..., Any], platform: Platform, screenshots: Path
) -> None:
    page = open_page()
    fill_signup(page, platform)
    page.locator("#api_password").fill("")  # the screenshot shows an empty password
    page.screenshot(path=str(screenshots / "signup-en.png"), full_page=True)
    page.locator("#api_password").fill(LIVE_PASSWORD)
    submit(page)
    expect(page).to_have_url(platform.url + "/signup/welcome")
    expect(page.locator("#signup-status")).to_have_attribute("data-status", "active")
    expect(page.locator("h1")).to_contain_text("Kräuterladen Müller")
    page.screenshot(path=str(screenshots / "signup-confirmation.png"), full_page=True)


def test_an_employee_username_signs_up_with_the_shared_password(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page()
    fill_signup(page, platform, billbee_username="lager.kraeuter")
    submit(page)
    expect(page.locator("#signup-status")).to_have_attribute("data-status", "active")


def test_broken_password_rules_are_listed_at_the_field(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page()
    fill_signup(page, platform, api_password="kurz:1")
    submit(page)
    password = page.locator("#api_password")
    expect(password).to_have_attribute("aria-invalid", "true")
    expect(password).to_have_value("")
    expect(page.locator("#api_password-error li")).to_have_count(4)
    described = password.get_attribute("aria-describedby") or ""
    assert "api_password-error" in described.split()


def test_a_wrong_api_password_is_refused_and_nothing_is_stored(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page()
    fill_signup(page, platform, api_password="Wrong#Password2026")
    submit(page)
    expect(page.locator("#form-problems")).to_contain_text(
        "Billbee refused this username/API password"
    )
    expect(page.locator("#api_password")).to_have_value("")
    fill_signup(page, platform)
    submit(page)  # the right password still signs up: nothing was stored before
    expect(page.locator("#signup-status")).to_have_attribute("data-status", "active")


def test_api_access_switched_off_is_explained(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page()
    fill_signup(page, platform, billbee_username=OFF_USERNAME, api_password=OFF_PASSWORD)
    submit(page)
    expect(page.locator("#form-problems")).to_contain_text("API access is switched off")


def test_a_second_signup_with_the_same_username_is_refused(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    first = open_page()
    fill_signup(first, platform)
    submit(first)
    second = open_page()
    fill_signup(second, platform, billbee_username=LIVE_USERNAME.upper())
    submit(second)
    expect(second.locator("#billbee_username-error")).to_contain_text("already connected")


def test_missing_consent_is_refused_at_the_checkbox(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page()
    fill_signup(page, platform)
    page.locator("#consent").uncheck()
    submit(page)
    expect(page.locator("#consent-error")).to_be_visible()
    expect(page.locator("#consent")).to_have_attribute("aria-invalid", "true")


def test_billbee_down_stores_the_signup_as_pending(
    open_page: Callable[..., Any], serve_platform: Callable[..., Platform]
) -> None:
    platform = serve_platform(billbee_down=True)
    page = open_page()
    fill_signup(page, platform)
    submit(page)
    status = page.locator("#signup-status")
    expect(status).to_have_attribute("data-status", "pending_verification")
    expect(status).to_contain_text("We could not reach Billbee just now")


def test_a_german_browser_gets_the_german_form(
    open_page: Callable[..., Any], platform: Platform, screenshots: Path
) -> None:
    page = open_page("de-DE")
    page.goto(platform.url + "/signup")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    expect(page.locator("h1")).to_have_text("Billbee-Konto verbinden")
    expect(page.get_by_label("Billbee-Benutzername", exact=True)).to_be_visible()
    page.screenshot(path=str(screenshots / "signup-de.png"), full_page=True)


def test_german_refusals_are_german(open_page: Callable[..., Any], platform: Platform) -> None:
    page = open_page("de-DE")
    fill_signup(page, platform, api_password="Falsch#Passwort2026")
    submit(page)
    expect(page.locator("#form-problems")).to_contain_text("Billbee hat diesen Benutzernamen")


def test_an_english_browser_gets_the_english_form(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page("en-GB")
    page.goto(platform.url + "/signup")
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(page.get_by_label("Billbee username", exact=True)).to_be_visible()


def test_the_language_switch_changes_and_remembers_the_language(
    open_page: Callable[..., Any], platform: Platform
) -> None:
    page = open_page("en-US")
    page.goto(platform.url + "/signup")
    page.get_by_role("link", name="Deutsch").click()
    expect(page).to_have_url(platform.url + "/signup")
    expect(page.locator("h1")).to_have_text("Billbee-Konto verbinden")
    page.goto(platform.url + "/")
    expect(page.locator("html")).to_have_attribute("lang", "de")
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
