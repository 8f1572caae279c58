"""Feed webhooks: registered in the merchant's Billbee (the sandbox over HTTP) by a
background-lane call once a tenant is active with a feed on, removed when its feeds go
off or before it is deleted; the secret sealed, never left on the call."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from sqlalchemy import select
from support.feeds import FEED_API_KEY, FEED_PASSWORD, feed_username, register_webhook, work_all
from support.sealed import payload_of

from billhive.billbee.client import BillbeeClient
from billhive.billbee.errors import Throttled
from billhive.cli import main
from billhive.feeds.models import FeedWebhook, Resource, WebhookState
from billhive.feeds.receiver import RECEIVER_PATH, SECRET_PURPOSE, receiver_url, url_digest
from billhive.feeds.service import switch_off, switch_on
from billhive.feeds.webhooks import WITHHELD, remove_now, sync_webhooks
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import reconnect
from billhive.tenants.verify import make_verifier
from billhive.workers.models import Call, CallStatus, Lane
from billhive.workers.runtime import Runtime


def _billbee_webhooks(rt: Runtime, n: int) -> list[dict[str, Any]]:
    with BillbeeClient(
        FEED_API_KEY, feed_username(n), FEED_PASSWORD, base_url=rt.settings.billbee_base_url
    ) as client:
        try:
            data = client.call("webhooks.list").data
        except Throttled:  # the sandbox's 2/s per endpoint counts billhive's own list
            time.sleep(1.1)
            data = client.call("webhooks.list").data
    assert isinstance(data, list)
    return data


def _sync(rt: Runtime) -> Any:
    with rt.database.session() as session:
        return sync_webhooks(session, rt.redis, rt.settings, rt.vault)


def _webhook(rt: Runtime, tenant_id: int) -> FeedWebhook | None:
    with rt.database.session() as session:
        row = session.get(FeedWebhook, tenant_id)
        if row is not None:
            session.expunge(row)
        return row


def _register(rt: Runtime, tenant_id: int) -> FeedWebhook:
    with rt.database.session() as session:
        switch_on(session, tenant_id, [Resource.ORDERS])
    return register_webhook(rt, tenant_id)


def test_an_active_tenant_with_a_feed_on_gets_a_webhook_in_its_billbee(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    assert _sync(rt).registering == 1
    pending = _webhook(rt, tenant)
    assert pending is not None and pending.state is WebhookState.LISTING
    assert _sync(rt).registering == 0  # one registration at a time
    register_webhook(rt, tenant)

    row = _webhook(rt, tenant)
    assert row is not None and row.state is WebhookState.REGISTERED and row.call_id is None
    [registered] = _billbee_webhooks(rt, 1)
    assert row.billbee_id == registered["Id"]
    uri = registered["WebHookUri"]
    base = rt.settings.public_url or f"http://{rt.settings.web_host}:{rt.settings.web_port}"
    assert uri.startswith(base.rstrip("/") + RECEIVER_PATH)
    token = uri.rsplit("/", 1)[1]
    assert row.url_digest == url_digest(token)
    secret = registered["Secret"]
    assert 32 <= len(secret) <= 64
    assert rt.vault.open_secret(SECRET_PURPOSE, tenant, row.kek_id, row.secret_sealed) == secret

    with rt.database.session() as session:
        call = session.scalars(select(Call).where(Call.operation == "webhooks.create")).one()
        assert call.lane is Lane.BACKGROUND and call.status is CallStatus.SUCCEEDED
        # Neither the secret nor the URL stays on the call row.
        opened = payload_of(session, rt.vault, call)
        stored = json.dumps([opened.body, opened.result, opened.params])
        assert secret not in stored and token not in stored
        assert opened.body["Secret"] == WITHHELD


def test_a_tenant_without_a_feed_on_or_not_active_gets_no_webhook(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    quiet = feed_tenant(1)
    paused = feed_tenant(2)
    with rt.database.session() as session:
        switch_on(session, paused, [Resource.ORDERS])
        tenant = session.get(Tenant, paused)
        assert tenant is not None
        tenant.status = TenantStatus.PAUSED
        session.commit()
    assert _sync(rt).registering == 0
    assert _webhook(rt, quiet) is None and _webhook(rt, paused) is None


def test_webhooks_switched_off_by_setting_are_not_registered(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
        result = sync_webhooks(
            session, rt.redis, rt.settings.model_copy(update={"feed_webhooks": False}), rt.vault
        )
    assert result.registering == 0 and _webhook(rt, tenant) is None


def test_a_tenant_whose_feeds_are_all_off_has_its_webhook_removed(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    _register(rt, tenant)
    with rt.database.session() as session:
        switch_off(session, tenant)
    assert _sync(rt).removing == 1
    work_all(rt)
    assert _webhook(rt, tenant) is None
    assert _billbee_webhooks(rt, 1) == []


def test_a_failed_registration_is_forgotten_and_made_anew(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    _sync(rt)  # lists Billbee's webhooks first
    work_all(rt)
    _sync(rt)  # then creates
    first = _webhook(rt, tenant)
    assert first is not None and first.state is WebhookState.REGISTERING
    assert first.call_id is not None
    with rt.database.session() as session:
        call = session.get(Call, first.call_id)
        assert call is not None
        call.status = CallStatus.FAILED
        session.commit()
    assert _sync(rt).registering == 1
    again = _webhook(rt, tenant)
    assert again is not None and again.url_digest != first.url_digest
    with rt.database.session() as session:
        failed = session.get(Call, first.call_id)
        assert failed is not None
        assert payload_of(session, rt.vault, failed).body["Secret"] == WITHHELD


def _add_billbee_webhook(rt: Runtime, n: int, uri: str) -> None:
    """A webhook made in account ``n``'s Billbee behind billhive's back."""
    body = {"WebHookUri": uri, "Secret": "s" * 40, "Filters": ["*"]}
    with BillbeeClient(
        FEED_API_KEY, feed_username(n), FEED_PASSWORD, base_url=rt.settings.billbee_base_url
    ) as client:
        client.call("webhooks.create", body=body)


def test_a_registration_first_deletes_the_stray_webhooks_of_billhives_receiver(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    # Left by a registration whose answer was lost: Billbee has it, billhive does not.
    _add_billbee_webhook(rt, 1, receiver_url(rt.settings, "a-token-billhive-forgot"))
    _add_billbee_webhook(rt, 1, "https://merchant.example/orders-hook")
    row = _register(rt, tenant)
    uris = sorted(w["WebHookUri"] for w in _billbee_webhooks(rt, 1))
    assert len(uris) == 2 and uris[1] == "https://merchant.example/orders-hook"
    assert url_digest(uris[0].rsplit("/", 1)[1]) == row.url_digest


def _stray_listed_but_not_deletable(rt: Runtime, sandbox: Any, n: int, uri: str) -> str:
    """A stray webhook of billhive's receiver that account ``n``'s Billbee lists but
    answers 404 to deleting (as when it was removed between a list and a delete, and
    Billbee's list still showed it); returns its id."""
    _add_billbee_webhook(rt, n, uri)
    [state] = [
        s
        for s in sandbox.server.app.extensions["billhive_sandbox"].store.all_states()
        if s.account_id == n
    ]
    [(key, stray)] = [(k, w) for k, w in state.webhooks.items() if w["WebHookUri"] == uri]
    state.webhooks[f"unreachable-{key}"] = state.webhooks.pop(key)
    return str(stray["Id"])


def test_a_stray_whose_delete_answers_404_counts_as_deleted_and_the_webhook_is_created(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int], feed_sandbox: Any
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    stray = _stray_listed_but_not_deletable(
        rt, feed_sandbox, 1, receiver_url(rt.settings, "a-token-billhive-forgot")
    )
    row = _register(rt, tenant)  # before: list, 404, forgotten, the same list ... never done
    with rt.database.session() as session:
        delete = session.scalars(select(Call).where(Call.operation == "webhooks.delete")).one()
        assert delete.status is CallStatus.FAILED and delete.http_status == 404
    ids = {w["Id"] for w in _billbee_webhooks(rt, 1)}
    assert ids == {stray, row.billbee_id}


def test_a_stray_whose_delete_failed_otherwise_is_passed_over_and_the_webhook_is_created(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    _add_billbee_webhook(rt, 1, receiver_url(rt.settings, "a-token-billhive-forgot"))
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    _sync(rt)
    work_all(rt)  # listed: one stray
    assert _sync(rt).cleaning == 1
    cleaning = _webhook(rt, tenant)
    assert cleaning is not None and cleaning.call_id is not None
    with rt.database.session() as session:
        call = session.get(Call, cleaning.call_id)
        assert call is not None
        call.status, call.http_status = CallStatus.FAILED, 500
        session.commit()
    assert _sync(rt).registering == 1  # on to the create, not back to the list
    row = _webhook(rt, tenant)
    assert row is not None and row.state is WebhookState.REGISTERING and not row.stale_ids


def test_a_registration_whose_answer_was_lost_leaves_no_duplicate_in_billbee(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int], feed_sandbox: Any
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(2)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    _sync(rt)
    work_all(rt)
    _sync(rt)  # the create is queued
    faults = f"{feed_sandbox.url}/api/v1/_sandbox/accounts/2/faults"
    httpx.put(faults, json={"reset_rate": 1}).raise_for_status()
    work_all(rt)  # Billbee creates the webhook, the connection resets before the answer
    httpx.put(faults, json={}).raise_for_status()
    with rt.database.session() as session:
        create = session.scalars(select(Call).where(Call.operation == "webhooks.create")).one()
        assert create.status is CallStatus.UNKNOWN_OUTCOME
    assert len(_billbee_webhooks(rt, 2)) == 1

    row = register_webhook(rt, tenant)
    [left] = _billbee_webhooks(rt, 2)
    assert left["Id"] == row.billbee_id


def test_remove_now_deletes_the_webhook_in_billbee_before_the_tenant_is_deleted(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    _register(rt, tenant)
    assert len(_billbee_webhooks(rt, 1)) == 1
    with rt.database.session() as session:
        assert remove_now(session, rt.settings, rt.vault, tenant) is True
    assert _billbee_webhooks(rt, 1) == []
    assert _webhook(rt, tenant) is None


def test_the_delete_command_removes_the_webhook_first(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    _register(rt, tenant)
    for name, value in rt.settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"BILLHIVE_{name.upper()}", str(raw))
    result = CliRunner().invoke(
        main, ["tenants", "delete", str(tenant), "--reason", "test", "--yes"]
    )
    assert result.exit_code == 0, result.output
    assert _billbee_webhooks(rt, 1) == []
    with rt.database.session() as session:
        deleted = session.get(Tenant, tenant)
        assert deleted is not None and deleted.status is TenantStatus.DELETED


def test_a_deleted_tenants_webhook_row_is_dropped_by_the_sync(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    _register(rt, tenant)
    with rt.database.session() as session:
        row = session.get(Tenant, tenant)
        assert row is not None
        row.status = TenantStatus.DISABLED
        session.commit()
    assert _sync(rt).dropped == 1
    assert _webhook(rt, tenant) is None


def test_a_tenant_whose_credentials_were_refused_gets_its_webhook_once_it_reconnects(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int], feed_sandbox: Any
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
        row = session.get(Tenant, tenant)
        assert row is not None
        row.status = TenantStatus.CREDENTIALS_INVALID  # Billbee refused the stored password
        session.commit()
    assert _sync(rt).registering == 0  # its calls do not run: nothing to register with
    new_password = "N3w-Sandb0x!Pass#2"
    httpx.patch(
        f"{feed_sandbox.url}/api/v1/_sandbox/accounts/1", json={"password": new_password}
    ).raise_for_status()
    with rt.database.session() as session:
        done = reconnect(session, rt.vault, tenant, new_password, verify=make_verifier(rt.settings))
        assert done.verified and done.tenant.status is TenantStatus.ACTIVE
    registered = register_webhook(rt, tenant)
    with BillbeeClient(
        FEED_API_KEY, feed_username(1), new_password, base_url=rt.settings.billbee_base_url
    ) as client:
        in_billbee = client.call("webhooks.list").data
    assert [w["Id"] for w in in_billbee] == [registered.billbee_id]
