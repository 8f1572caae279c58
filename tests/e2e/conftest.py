"""Browser tests: headless Debian Chromium driven by Playwright against live servers.

``browser`` skips with an install hint when /usr/bin/chromium is missing, except under CI
(env ``CI`` set), where a missing browser is a failure: CI must run these tests.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.browser import (
    API_KEY,
    CHROMIUM,
    CHROMIUM_ARGS,
    SANDBOX_ACCOUNTS,
    Platform,
    require_chromium,
)

from billhive.config import Settings
from billhive.platform import create_app
from billhive.sandbox.app import create_sandbox_app

SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium for the whole session."""
    require_chromium(CHROMIUM, os.environ)
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def open_page(browser: Any) -> Iterator[Callable[..., Any]]:
    """Open a page in a fresh browser context (own cookies) with the given locale.

    Every page the test visits must work under the app's Content-Security-Policy: a
    violation (an inline script or style the policy blocks) fails the test at its end.
    """
    contexts: list[Any] = []
    violations: list[str] = []

    def watch(message: Any) -> None:
        if "Content Security Policy" in message.text:
            violations.append(message.text)

    def open_one(locale: str = "en-US") -> Any:
        context = browser.new_context(locale=locale, viewport={"width": 1200, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("console", watch)
        return page

    yield open_one
    for context in contexts:
        context.close()
    assert violations == [], "Content-Security-Policy violations"


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def serve_platform(
    settings_factory: Callable[..., Settings], live_server_factory: Any, db: Any
) -> Callable[..., Platform]:
    """Start the platform; ``billbee_down=True`` points it at a closed port."""

    def start(*, billbee_down: bool = False) -> Platform:
        if billbee_down:
            billbee = f"http://127.0.0.1:{_closed_port()}/api/v1"
        else:
            sandbox = create_sandbox_app(api_keys=[API_KEY], accounts=SANDBOX_ACCOUNTS)
            billbee = live_server_factory(sandbox).url + "/api/v1"
        settings = settings_factory(
            billbee_base_url=billbee, billbee_api_key=API_KEY, billbee_timeout=3.0
        )
        return Platform(url=live_server_factory(create_app(settings)).url, billbee_url=billbee)

    return start


@pytest.fixture
def platform(serve_platform: Callable[..., Platform]) -> Platform:
    """The platform in front of a sandbox that knows the test merchants."""
    return serve_platform()


@pytest.fixture(scope="session")
def screenshots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: a temporary folder, so a test run never changes tracked
    files; ``BILLHIVE_SCREENSHOTS=1`` writes the docs' own (``make screenshots``)."""
    if os.environ.get("BILLHIVE_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        return SCREENSHOTS
    return tmp_path_factory.mktemp("screenshots")
