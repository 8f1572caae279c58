"""The signup form's live check against the sandbox over real HTTP (no verifier double)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.signup import post_signup, tenant_count

from billhive.config import Settings
from billhive.platform import create_app
from billhive.sandbox.app import create_sandbox_app
from billhive.tenants.models import Tenant, TenantStatus

API_KEY = "signup-sandbox-key"
ACCOUNTS = [
    {"id": 1, "username": "live@shop.test", "password": "LiveShop#2026api"},
    {
        "id": 2,
        "username": "off@shop.test",
        "password": "OffShop#2026api!",
        "api_enabled": False,
    },
]


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def sandbox_url(live_server_factory: Any) -> str:
    """The sandbox's API base on a live port."""
    sandbox = live_server_factory(create_sandbox_app(api_keys=[API_KEY], accounts=ACCOUNTS))
    return f"{sandbox.url}/api/v1"


@pytest.fixture
def sandbox_client(settings_factory: Callable[..., Settings], sandbox_url: str, db: Any) -> Any:
    """A test client of the platform whose Billbee is the sandbox."""
    settings = settings_factory(billbee_base_url=sandbox_url, billbee_api_key=API_KEY)
    return create_app(settings).test_client()


def test_credentials_the_sandbox_accepts_make_an_active_tenant(
    sandbox_client: Any, session: Session
) -> None:
    response = post_signup(
        sandbox_client, billbee_username="live@shop.test", api_password="LiveShop#2026api"
    )
    assert response.status_code == 303
    assert session.scalars(select(Tenant)).one().status == TenantStatus.ACTIVE


def test_a_password_the_sandbox_refuses_stores_nothing(
    sandbox_client: Any, session: Session
) -> None:
    response = post_signup(
        sandbox_client, billbee_username="live@shop.test", api_password="WrongShop#2026api"
    )
    assert "Billbee refused this username/API password" in response.get_data(as_text=True)
    assert tenant_count(session) == 0


def test_an_account_without_api_access_is_told_to_switch_it_on(
    sandbox_client: Any, session: Session
) -> None:
    response = post_signup(
        sandbox_client, billbee_username="off@shop.test", api_password="OffShop#2026api!"
    )
    assert "API access is switched off" in response.get_data(as_text=True)
    assert tenant_count(session) == 0


def test_billbee_failing_with_5xx_leaves_the_tenant_pending(
    sandbox_client: Any, sandbox_url: str, session: Session
) -> None:
    faults = httpx.put(f"{sandbox_url}/_sandbox/accounts/1/faults", json={"error_rate": 1.0})
    assert faults.status_code == 200
    response = post_signup(
        sandbox_client, billbee_username="live@shop.test", api_password="LiveShop#2026api"
    )
    assert response.status_code == 303
    assert session.scalars(select(Tenant)).one().status == TenantStatus.PENDING_VERIFICATION


def test_billbee_unreachable_leaves_the_tenant_pending(
    settings_factory: Callable[..., Settings], session: Session
) -> None:
    settings = settings_factory(
        billbee_base_url=f"http://127.0.0.1:{_closed_port()}/api/v1", billbee_timeout=2.0
    )
    client = create_app(settings).test_client()
    response = post_signup(client)
    assert response.status_code == 303
    assert session.scalars(select(Tenant)).one().status == TenantStatus.PENDING_VERIFICATION
