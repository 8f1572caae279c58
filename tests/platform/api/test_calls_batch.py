"""``POST /api/v1/tenants/{id}/calls/batch``: several calls in one request, all or none."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.api import bearer
from support.sealed import payload_of

from billhive.platform.api.schemas import BATCH_CALLS_MAX
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.calls import STOCK_JOB
from billhive.workers.control import queue_depth
from billhive.workers.models import Call
from billhive.workers.queues import TenantQueue


def _batch(api: Callable[..., Any], tenant_id: int, calls: Any, **kw: Any) -> Any:
    return api("POST", f"/api/v1/tenants/{tenant_id}/calls/batch", json={"calls": calls}, **kw)


SHIP_THREE = [
    {"operation": "orders.update_state", "params": {"id": n}, "body": {"NewStateId": 4}}
    for n in (101, 102, 103)
]


def test_a_batch_queues_every_call_in_the_order_given(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    response = _batch(api, tenant.id, SHIP_THREE)
    assert response.status_code == 202, response.json
    calls = response.json["calls"]
    assert [c["params"]["id"] for c in calls] == [101, 102, 103]
    assert [c["id"] for c in calls] == sorted(c["id"] for c in calls)
    queued = TenantQueue.for_tenant(str(tenant.id), redis_client).get_job_ids()
    assert queued == [f"call-{c['id']}" for c in calls]
    stored = session.scalars(select(Call).order_by(Call.id)).all()
    assert [payload_of(session, vault, c).body for c in stored] == [{"NewStateId": 4}] * 3


def test_a_stock_update_in_a_batch_takes_the_coalescing_stock_path(
    api: Callable[..., Any], tenant: Tenant, redis_client: Redis
) -> None:
    stock = {"operation": "products.update_stock", "body": {"Sku": "A-1", "NewQuantity": 7}}
    response = _batch(api, tenant.id, [SHIP_THREE[0], stock])
    assert response.status_code == 202, response.json
    job = Job.fetch(f"call-{response.json['calls'][1]['id']}", connection=redis_client)
    assert job.func_name == STOCK_JOB


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        ({"operation": "orders.teleport"}, "calls.1.operation"),
        (
            {"operation": "orders.get", "params": {"id": 1, "colour": "red"}},
            "calls.1.params.colour",
        ),
        ({"operation": "orders.list", "body": {"x": 1}}, "calls.1.body"),
        ({"operation": "products.update_stock", "body": {"Sku": ""}}, "calls.1.sku"),
        ({"params": {}}, "calls.1.operation"),
    ],
)
def test_a_bad_call_is_422_naming_its_position_and_nothing_is_queued(
    api: Callable[..., Any],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    bad: dict[str, Any],
    field: str,
) -> None:
    response = _batch(api, tenant.id, [SHIP_THREE[0], bad, SHIP_THREE[1]])
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field
    assert session.scalars(select(Call)).all() == []
    assert queue_depth(redis_client, tenant.id) == 0


@pytest.mark.parametrize("count", [0, BATCH_CALLS_MAX + 1])
def test_an_empty_or_oversized_batch_is_422(
    api: Callable[..., Any], tenant: Tenant, session: Session, count: int
) -> None:
    response = _batch(api, tenant.id, [SHIP_THREE[0]] * count)
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == "calls"
    assert session.scalars(select(Call)).all() == []


def test_a_batch_for_a_missing_tenant_is_404(
    api: Callable[..., Any], db: Any, session: Session
) -> None:
    response = _batch(api, 424242, SHIP_THREE)
    assert response.status_code == 404
    assert response.json["error"]["code"] == "tenant_not_found"
    assert session.scalars(select(Call)).all() == []


def test_a_batch_for_a_disabled_tenant_is_409(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    response = _batch(api, make_tenant(TenantStatus.DISABLED).id, SHIP_THREE)
    assert response.status_code == 409
    assert response.json["error"]["code"] == "tenant_not_accepting_calls"
    assert session.scalars(select(Call)).all() == []


def test_a_retried_batch_with_its_key_returns_the_same_calls(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    headers = {"Idempotency-Key": "ship-run-7"}
    first = _batch(api, tenant.id, SHIP_THREE, headers=headers)
    again = _batch(api, tenant.id, SHIP_THREE, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.headers["Idempotent-Replayed"] == "true"
    assert [c["id"] for c in again.json["calls"]] == [c["id"] for c in first.json["calls"]]
    assert len(session.scalars(select(Call)).all()) == 3


def test_a_token_for_tenant_a_cannot_batch_for_tenant_b(
    client: Any,
    make_tenant: Callable[..., Tenant],
    make_token: Callable[..., str],
    session: Session,
) -> None:
    a, b = make_tenant(), make_tenant()
    response = client.post(
        f"/api/v1/tenants/{b.id}/calls/batch",
        headers=bearer(make_token(tenant_ids=[a.id])),
        json={"calls": SHIP_THREE},
    )
    assert response.status_code == 404
    assert session.scalars(select(Call)).all() == []


def test_a_read_only_token_may_not_batch(
    client: Any, tenant: Tenant, make_token: Callable[..., str]
) -> None:
    response = client.post(
        f"/api/v1/tenants/{tenant.id}/calls/batch",
        headers=bearer(make_token(read_only=True)),
        json={"calls": SHIP_THREE},
    )
    assert response.status_code == 403
