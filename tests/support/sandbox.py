"""Shared pieces of the sandbox tests: test accounts, the Sandbox handle, envelope checks."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

API_KEY = "sandbox-test-key"
MERCHANT: dict[str, Any] = {
    "id": 7,
    "name": "Test Shop",
    "username": "merchant@example.com",
    "password": "Merchant#Pass2025",
    "employees": ["packer.test"],
    "invoice_creation_allowed": True,
}
NO_INVOICES: dict[str, Any] = {
    "id": 8,
    "name": "No Invoice Shop",
    "username": "noinvoice@example.com",
    "password": "NoInvoice#Pass2025",
}
DISABLED: dict[str, Any] = {
    "id": 9,
    "name": "Disabled Shop",
    "username": "disabled@example.com",
    "password": "Disabled#Pass2025",
    "api_enabled": False,
}


@dataclass
class Sandbox:
    """A running sandbox: its URL, app, and clients that are closed after the test."""

    url: str
    app: Any
    clients: list[httpx.Client] = field(default_factory=list)

    def client(
        self,
        account: dict[str, Any] | None = None,
        *,
        username: str | None = None,
        password: str | None = None,
        api_key: str | None = API_KEY,
        timeout: float = 10.0,
    ) -> httpx.Client:
        """An httpx client on /api/v1 with a key and Basic credentials (MERCHANT's by default)."""
        account = account or MERCHANT
        headers = {"Accept": "application/json"}
        if api_key is not None:
            headers["X-Billbee-Api-Key"] = api_key
        client = httpx.Client(
            base_url=f"{self.url}/api/v1",
            headers=headers,
            auth=(username or account["username"], password or account["password"]),
            timeout=timeout,
        )
        self.clients.append(client)
        return client

    @property
    def control(self) -> httpx.Client:
        """A client on the control API (no credentials)."""
        client = httpx.Client(base_url=f"{self.url}/api/v1/_sandbox", timeout=10.0)
        self.clients.append(client)
        return client


def data_of(response: httpx.Response) -> Any:
    """The envelope's Data after checking the call succeeded."""
    payload = response.json()
    assert response.status_code in (200, 201), payload
    assert payload["ErrorCode"] == 0, payload
    return payload["Data"]


def empty_ok(response: httpx.Response) -> None:
    """Check the call succeeded with Billbee's empty 200 (no envelope, no body)."""
    assert response.status_code == 200, response.text
    assert response.content == b""


def bare(response: httpx.Response) -> Any:
    """The body of an answer Billbee sends without the envelope."""
    assert response.status_code == 200, response.text
    payload = response.json()
    assert not (isinstance(payload, dict) and "ErrorCode" in payload), payload
    return payload


class ManualClock:
    """A monotonic clock the test moves by hand (so throttle tests never race real time)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move time forward."""
        self.now += seconds
