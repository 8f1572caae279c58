"""The sandbox merchants and the platform handle the browser tests share."""

from __future__ import annotations

from dataclasses import dataclass

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
