"""``Idempotency-Key``: retries get the first call, even when they race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.api import bearer

from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tokens import housekeeping
from billhive.tokens.models import IdempotencyKey
from billhive.workers.models import Call

ORDERS_LIST = {"operation": "orders.list", "params": {"page": 1}}


def _count_calls(session: Session) -> int:
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Call)) or 0)


def _post(api: Callable[..., Any], tenant_id: int, key: str, payload: Any = ORDERS_LIST) -> Any:
    return api(
        "POST",
        f"/api/v1/tenants/{tenant_id}/calls",
        json=payload,
        headers={"Idempotency-Key": key},
    )


def test_a_retry_with_the_same_key_returns_the_first_call(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    first = _post(api, tenant.id, "order-4711")
    again = _post(api, tenant.id, "order-4711")
    assert first.status_code == 202
    assert again.status_code == 200
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.json["id"] == first.json["id"]
    assert _count_calls(session) == 1


def test_the_same_key_with_another_request_is_409(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    _post(api, tenant.id, "k1")
    response = _post(api, tenant.id, "k1", {"operation": "orders.list", "params": {"page": 2}})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "idempotency_key_reused"
    assert response.json["error"]["field"] == "Idempotency-Key"
    assert _count_calls(session) == 1


def test_keys_belong_to_their_token(
    api: Callable[..., Any], tenant: Tenant, make_token: Callable[..., str], session: Session
) -> None:
    other = make_token("other")
    first = _post(api, tenant.id, "shared-key")
    second = api(
        "POST",
        f"/api/v1/tenants/{tenant.id}/calls",
        json=ORDERS_LIST,
        headers={"Idempotency-Key": "shared-key"},
        as_token=other,
    )
    assert second.status_code == 202
    assert second.json["id"] != first.json["id"]


def test_a_refused_request_releases_its_key(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    disabled = make_tenant(TenantStatus.DISABLED)
    assert _post(api, disabled.id, "k2").status_code == 409
    assert session.scalars(select(IdempotencyKey)).first() is None


@pytest.mark.parametrize("key", ["", "x" * 256, "tab\there", "ümlaut"])
def test_a_malformed_key_is_400_naming_the_header(
    api: Callable[..., Any], tenant: Tenant, key: str
) -> None:
    response = _post(api, tenant.id, key)
    assert response.status_code == 400
    assert response.json["error"]["field"] == "Idempotency-Key"


def test_concurrent_retries_against_a_live_server_create_one_call(
    app: Any,
    live_server_factory: Callable[[Any], Any],
    tenant: Tenant,
    token: str,
    session: Session,
) -> None:
    server = live_server_factory(app)
    url = f"{server.url}/api/v1/tenants/{tenant.id}/calls"
    results: list[httpx.Response] = []
    lock = threading.Lock()
    barrier = threading.Barrier(12)

    def retry() -> None:
        with httpx.Client(timeout=30) as http:
            barrier.wait()
            response = http.post(
                url,
                json=ORDERS_LIST,
                headers={**bearer(token), "Idempotency-Key": "race-1"},
            )
        with lock:
            results.append(response)

    threads = [threading.Thread(target=retry) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 11 + [202], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert _count_calls(session) == 1


def test_keys_older_than_their_keeping_time_are_purged(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    _post(api, tenant.id, "old")
    _post(api, tenant.id, "new")
    old = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == "old")).one()
    old.created_at = utcnow() - housekeeping.KEEP_FOR - timedelta(hours=1)
    session.commit()
    assert housekeeping.purge_keys(session) == 1
    assert [k.key for k in session.scalars(select(IdempotencyKey))] == ["new"]
