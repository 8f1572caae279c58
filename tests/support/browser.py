"""What the browser tests share: the Chromium rule, the sandbox merchants, the platform."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
API_KEY = "e2e-signup-key"
LIVE_USERNAME = "shop@kraeuter.test"
LIVE_PASSWORD = "Kraeuter#2026api"
OFF_USERNAME = "noapi@kraeuter.test"
OFF_PASSWORD = "NoApiShop#2026x"
SANDBOX_ACCOUNTS = [
    {
        "id": 1,
        "name": "Kräuterladen",
        "username": LIVE_USERNAME,
        "employees": ["lager.kraeuter"],
        "password": LIVE_PASSWORD,
        "invoice_creation_allowed": True,
    },
    {"id": 2, "username": OFF_USERNAME, "password": OFF_PASSWORD, "api_enabled": False},
]


@dataclass
class Platform:
    """The platform app on a live port, with its Billbee pointing at ``billbee_url``."""

    url: str
    billbee_url: str


def require_chromium(path: Path, environ: Mapping[str, str]) -> None:
    """Skip when ``path`` is missing, or fail when the environment says this is CI."""
    if path.exists():
        return
    message = "install Chromium: apt-get install chromium"
    if environ.get("CI"):
        pytest.fail(f"{path} is missing in CI; {message}")
    pytest.skip(message)
