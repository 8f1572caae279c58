"""Signup and reconnect against the Billbee sandbox over real HTTP (the real verifier)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.sandbox import create_sandbox_app
from billhive.sandbox.faults import LatencySpec
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import (
    ApiAccessNotEnabled,
    CredentialsRefused,
    SignupRequest,
    make_verifier,
    open_credentials,
    reconnect,
    sign_up,
)
from billhive.tenants.vault import Vault

API_KEY = "sandbox-test-key"
PASSWORD = "Tr1cky!Sample#42"
ACCOUNTS: list[dict[str, Any]] = [
    {"id": 1, "username": "main@shop.example", "password": PASSWORD, "employees": ["clerk"]},
    {"id": 2, "username": "off@shop.example", "password": PASSWORD, "api_enabled": False},
    {"id": 3, "username": "flaky@shop.example", "password": PASSWORD},
]


@pytest.fixture
def sandbox_url(live_server_factory: Callable[[Any], Any]) -> str:
    """The base URL of a sandbox knowing ``ACCOUNTS`` and ``API_KEY``."""
    app = create_sandbox_app(api_keys=[API_KEY], accounts=ACCOUNTS, throttle=False)
    return f"{live_server_factory(app).url}/api/v1"


@pytest.fixture
def billbee_settings(settings_factory: Callable[..., Settings], sandbox_url: str) -> Settings:
    return settings_factory(billbee_api_key=API_KEY, billbee_base_url=sandbox_url)


def request(username: str, password: str = PASSWORD) -> SignupRequest:
    return SignupRequest("Sandbox Shop", "owner@shop.example", username, password)


def tenants(session: Session) -> int:
    return int(session.scalar(select(func.count()).select_from(Tenant)) or 0)


def test_a_main_account_signs_up_and_becomes_active(
    session: Session, vault: Vault, billbee_settings: Settings
) -> None:
    verify = make_verifier(billbee_settings)
    tenant = sign_up(session, vault, request("main@shop.example"), verify=verify)
    assert tenant.status == TenantStatus.ACTIVE


def test_an_employee_username_signs_up_with_the_shared_password(
    session: Session, vault: Vault, billbee_settings: Settings
) -> None:
    tenant = sign_up(session, vault, request("clerk"), verify=make_verifier(billbee_settings))
    assert tenant.status == TenantStatus.ACTIVE


def test_a_wrong_password_is_refused_and_nothing_is_stored(
    session: Session, vault: Vault, billbee_settings: Settings
) -> None:
    with pytest.raises(CredentialsRefused):
        sign_up(
            session,
            vault,
            request("main@shop.example", "Wrong!Sample#42"),
            verify=make_verifier(billbee_settings),
        )
    assert tenants(session) == 0


def test_an_account_without_api_access_is_refused_and_nothing_is_stored(
    session: Session, vault: Vault, billbee_settings: Settings
) -> None:
    with pytest.raises(ApiAccessNotEnabled):
        sign_up(session, vault, request("off@shop.example"), verify=make_verifier(billbee_settings))
    assert tenants(session) == 0


def test_a_failing_billbee_leaves_the_tenant_pending_verification(
    session: Session, vault: Vault, billbee_settings: Settings, sandbox_url: str
) -> None:
    httpx.put(f"{sandbox_url}/_sandbox/accounts/3/faults", json={"error_rate": 1.0})
    verify = make_verifier(billbee_settings)
    tenant = sign_up(session, vault, request("flaky@shop.example"), verify=verify)
    assert tenant.status == TenantStatus.PENDING_VERIFICATION
    assert tenant.last_error == "Billbee could not be asked: ServerError."


def test_an_unreachable_billbee_leaves_the_tenant_pending_verification(
    session: Session, vault: Vault, settings_factory: Callable[..., Settings]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    down = settings_factory(billbee_api_key=API_KEY, billbee_base_url=f"http://127.0.0.1:{port}")
    tenant = sign_up(session, vault, request("main@shop.example"), verify=make_verifier(down))
    assert tenant.status == TenantStatus.PENDING_VERIFICATION


def test_reconnecting_with_the_current_password_reactivates_the_tenant(
    session: Session, vault: Vault, billbee_settings: Settings, sandbox_url: str
) -> None:
    verify = make_verifier(billbee_settings)
    tenant = sign_up(session, vault, request("main@shop.example"), verify=verify)
    new_password = "Changed!Sample#99"
    httpx.patch(f"{sandbox_url}/_sandbox/accounts/1", json={"password": new_password})
    tenant.status = TenantStatus.CREDENTIALS_INVALID
    session.commit()
    reconnect(session, vault, tenant.id, new_password, verify=verify)
    assert tenant.status == TenantStatus.ACTIVE
    assert open_credentials(session, vault, tenant.id).password == new_password


def test_a_verifier_with_a_short_timeout_leaves_a_slow_billbee_pending(
    session: Session,
    vault: Vault,
    settings_factory: Callable[..., Settings],
    live_server_factory: Callable[[Any], Any],
) -> None:
    slow = create_sandbox_app(
        api_keys=[API_KEY], accounts=ACCOUNTS, throttle=False, latency=LatencySpec.parse("1000")
    )
    url = f"{live_server_factory(slow).url}/api/v1"
    verify = make_verifier(
        settings_factory(billbee_api_key=API_KEY, billbee_base_url=url), timeout=0.2
    )
    tenant = sign_up(session, vault, request("main@shop.example"), verify=verify)
    assert tenant.status == TenantStatus.PENDING_VERIFICATION
    assert tenant.last_error == "Billbee could not be asked: TransportError."
