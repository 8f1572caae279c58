"""The dashboard's actions and the tenant's Billbee webhook (the feeds' trigger): pausing,
disabling and deleting remove it from the merchant's Billbee (the sandbox over HTTP)
first, since none of those tenants' calls run afterwards; resuming registers it again."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from redis import Redis
from sqlalchemy.orm import Session
from support.admin import TENANT_PASSWORD, Made, csrf_token
from support.runtime import Account, serve_sandbox

from billhive.billbee.client import BillbeeClient
from billhive.config import Settings
from billhive.db import Database
from billhive.feeds.models import FeedWebhook, Resource, WebhookState
from billhive.feeds.receiver import SECRET_PURPOSE, receiver_url, url_digest
from billhive.feeds.service import switch_on
from billhive.feeds.webhooks import sync_webhooks
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault

API_KEY = "admin-feeds-key"
#: The account of ``Made.tenant()``'s default name and of every test tenant's password.
ACCOUNT = Account(1, "user-acme-gmbh@shop.example", TENANT_PASSWORD, "Acme")


@pytest.fixture
def sandbox(live_server_factory: Callable[[Any], Any]) -> Any:
    return serve_sandbox(live_server_factory, API_KEY, [ACCOUNT])


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db: Database, sandbox: Any) -> Settings:
    """The app's settings on the sandbox (the dashboard asks Billbee directly)."""
    return settings_factory(
        billbee_base_url=sandbox.url + "/api/v1", billbee_api_key=API_KEY, billbee_timeout=2.0
    )


def _billbee(settings: Settings) -> BillbeeClient:
    return BillbeeClient(
        API_KEY, ACCOUNT.username, ACCOUNT.password, base_url=settings.billbee_base_url
    )


def _billbee_webhooks(settings: Settings) -> list[Any]:
    with _billbee(settings) as client:
        data = client.call("webhooks.list").data
    assert isinstance(data, list)
    return data


def _registered(made: Made, session: Session, settings: Settings) -> Tenant:
    """An active tenant with an orders feed and its webhook registered in Billbee."""
    tenant = made.tenant()
    switch_on(session, tenant.id, [Resource.ORDERS])
    token, secret = secrets.token_urlsafe(32), secrets.token_urlsafe(36)
    body = {"WebHookUri": receiver_url(settings, token), "Secret": secret, "Filters": ["*"]}
    with _billbee(settings) as client:
        created = client.call("webhooks.create", body=body).data
    kek_id, sealed = made.vault.seal_secret(SECRET_PURPOSE, tenant.id, secret)
    session.add(
        FeedWebhook(
            tenant_id=tenant.id,
            url_digest=url_digest(token),
            kek_id=kek_id,
            secret_sealed=sealed,
            state=WebhookState.REGISTERED,
            billbee_id=created["Id"],
        )
    )
    session.commit()
    assert len(_billbee_webhooks(settings)) == 1
    return tenant


def _post(client: Any, tenant: Tenant, action: str, **data: str) -> Any:
    token = csrf_token(client, f"/admin/tenants/{tenant.id}")
    return client.post(f"/admin/tenants/{tenant.id}/{action}", data={"csrf_token": token, **data})


def _status(session: Session, tenant: Tenant) -> TenantStatus:
    session.expire_all()
    return session.get(Tenant, tenant.id).status  # type: ignore[union-attr]


def test_pausing_a_tenant_removes_its_webhook_from_billbee(
    admin_client: Any, made: Made, session: Session, settings: Settings
) -> None:
    tenant = _registered(made, session, settings)
    assert _post(admin_client, tenant, "pause").status_code == 302
    assert _status(session, tenant) is TenantStatus.PAUSED
    assert _billbee_webhooks(settings) == []
    assert session.get(FeedWebhook, tenant.id) is None


def test_a_resumed_tenant_has_its_webhook_registered_again(
    admin_client: Any, made: Made, session: Session, settings: Settings, redis_client: Redis
) -> None:
    tenant = _registered(made, session, settings)
    _post(admin_client, tenant, "pause")
    vault = Vault.from_settings(settings)
    assert sync_webhooks(session, redis_client, settings, vault).registering == 0
    _post(admin_client, tenant, "resume")
    assert _status(session, tenant) is TenantStatus.ACTIVE
    assert sync_webhooks(session, redis_client, settings, vault).registering == 1
    row = session.get(FeedWebhook, tenant.id)
    assert row is not None and row.state is WebhookState.LISTING


def test_disabling_a_tenant_removes_its_webhook_from_billbee_first(
    admin_client: Any, made: Made, session: Session, settings: Settings
) -> None:
    tenant = _registered(made, session, settings)
    assert _post(admin_client, tenant, "disable", reason="fraud").status_code == 302
    assert _status(session, tenant) is TenantStatus.DISABLED
    assert _billbee_webhooks(settings) == []
    assert session.get(FeedWebhook, tenant.id) is None


def test_deleting_a_tenant_removes_its_webhook_from_billbee_first(
    admin_client: Any, made: Made, session: Session, settings: Settings
) -> None:
    tenant = _registered(made, session, settings)
    response = _post(admin_client, tenant, "delete", confirm=str(tenant.id))
    assert response.status_code == 302
    assert _status(session, tenant) is TenantStatus.DELETED
    assert _billbee_webhooks(settings) == []
    assert session.get(FeedWebhook, tenant.id) is None


def test_a_tenant_is_deleted_even_when_billbee_does_not_remove_its_webhook(
    admin_client: Any, made: Made, session: Session, settings: Settings, sandbox: Any
) -> None:
    tenant = _registered(made, session, settings)
    faults = f"{sandbox.url}/api/v1/_sandbox/accounts/{ACCOUNT.id}/faults"
    httpx.put(faults, json={"error_rate": 1}).raise_for_status()
    _post(admin_client, tenant, "delete", confirm=str(tenant.id))
    assert _status(session, tenant) is TenantStatus.DELETED
    assert session.get(FeedWebhook, tenant.id) is None  # its posts now answer 404
    httpx.put(faults, json={}).raise_for_status()
    assert len(_billbee_webhooks(settings)) == 1
