"""Enqueue, get, list and cancel calls through the API."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.api import bearer
from support.sealed import payload_of, store_payload

from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus


def _enqueue(api: Callable[..., Any], tenant_id: int, payload: Any, **kw: Any) -> Any:
    return api("POST", f"/api/v1/tenants/{tenant_id}/calls", json=payload, **kw)


def test_enqueue_answers_202_with_the_queued_call(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    response = _enqueue(api, tenant.id, {"operation": "orders.get", "params": {"id": 42}})
    assert response.status_code == 202
    assert response.json["status"] == "queued"
    assert response.json["operation"] == "orders.get"
    assert response.json["params"] == {"id": 42}
    assert session.get(Call, response.json["id"]) is not None


def test_enqueue_puts_a_job_on_the_tenants_queue(
    api: Callable[..., Any], tenant: Tenant, redis_client: Redis
) -> None:
    response = _enqueue(api, tenant.id, {"operation": "orders.list", "params": {"page_size": 5}})
    assert Job.exists(f"call-{response.json['id']}", connection=redis_client)


def test_enqueue_keeps_the_body_for_operations_that_take_one(
    api: Callable[..., Any], tenant: Tenant, session: Session, vault: Vault
) -> None:
    body = {"Text": "hello", "Tags": ["a"]}
    response = _enqueue(
        api, tenant.id, {"operation": "orders.add_tags", "params": {"id": 7}, "body": body}
    )
    assert response.status_code == 202
    call = session.get(Call, response.json["id"])
    assert call is not None and payload_of(session, vault, call).body == body


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"operation": "orders.nonsense"}, "operation"),
        ({"operation": "orders.get"}, "params.id"),
        ({"operation": "orders.list", "params": {"colour": "red"}}, "params.colour"),
        ({"operation": "orders.list", "params": {"pageSize": {"a": 1}}}, "params.pageSize"),
        ({"operation": "orders.list", "params": {"pageSize": [1, 2]}}, "params.pageSize"),
        ({"operation": "orders.list", "body": {"x": 1}}, "body"),
        ({"operation": 5}, "operation"),
        ({"params": {}}, "operation"),
        ({"operation": "orders.list", "extra": 1}, "extra"),
        ({"operation": "orders.list", "params": []}, "params"),
        ({"operation": "orders.li\u0000st"}, "operation"),
        ({"operation": "orders.get", "params": {"id": ".."}}, "params.id"),
        ({"operation": "orders.get", "params": {"id": "7/../../products"}}, "params.id"),
        (
            {
                "operation": "products.get_product_image",
                "params": {"productId": 1, "image_id": ".."},
            },
            "params.image_id",
        ),
        ({"operation": "products.get", "params": {"id": "."}}, "params.id"),
        ({"operation": "products.get", "params": {"id": "a%2F..%2Fb"}}, "params.id"),
        ({"operation": "webhooks.delete", "params": {"id": "x\\y"}}, "params.id"),
        ({"operation": "orders.get", "params": {"id": 1.5}}, "params.id"),
    ],
)
def test_enqueue_refuses_bad_input_with_422_naming_the_field(
    api: Callable[..., Any], tenant: Tenant, payload: Any, field: str, session: Session
) -> None:
    response = _enqueue(api, tenant.id, payload)
    assert response.status_code == 422, response.json
    assert response.json["error"]["code"] == "validation_failed"
    assert response.json["error"]["field"] == field
    assert session.scalars(select(Call)).first() is None


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b"[1,",
        b'{"operation": NaN}',
        b'{"operation": "orders.list", "body": 1e400}',
        b'{"operation": "\\ud800"}',
        b"[" * 5000,
    ],
)
def test_enqueue_with_unreadable_json_is_400_invalid_json(
    api: Callable[..., Any], tenant: Tenant, raw: bytes
) -> None:
    response = api(
        "POST", f"/api/v1/tenants/{tenant.id}/calls", data=raw, content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json["error"]["code"] == "invalid_json"


def test_enqueue_stores_deep_and_odd_json_bodies_without_a_server_error(
    api: Callable[..., Any], tenant: Tenant, session: Session, vault: Vault
) -> None:
    deep: Any = "leaf"
    for _ in range(200):
        deep = [deep]
    body = {"deep": deep, "nul": "a\u0000b", "big": 10**30, "tiny": 1e-300, "emoji": "\U0001f41d"}
    response = _enqueue(
        api, tenant.id, {"operation": "orders.add_tags", "params": {"id": 2**63 - 1}, "body": body}
    )
    assert response.status_code == 202, response.json
    call = session.get(Call, response.json["id"])
    assert call is not None and payload_of(session, vault, call).body["big"] == 10**30


def test_enqueue_for_a_missing_tenant_is_404(api: Callable[..., Any], db: Any) -> None:
    response = _enqueue(api, 424242, {"operation": "orders.list"})
    assert response.status_code == 404
    assert response.json["error"]["code"] == "tenant_not_found"


def test_enqueue_for_a_disabled_tenant_is_409(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    disabled = make_tenant(TenantStatus.DISABLED)
    response = _enqueue(api, disabled.id, {"operation": "orders.list"})
    assert response.status_code == 409
    assert response.json["error"]["code"] == "tenant_not_accepting_calls"


def test_a_token_for_tenant_a_cannot_enqueue_for_tenant_b(
    client: Any,
    make_tenant: Callable[..., Tenant],
    make_token: Callable[..., str],
    session: Session,
) -> None:
    a, b = make_tenant(), make_tenant()
    scoped = make_token(tenant_ids=[a.id])
    response = client.post(
        f"/api/v1/tenants/{b.id}/calls", headers=bearer(scoped), json={"operation": "orders.list"}
    )
    assert response.status_code == 404
    assert session.scalars(select(Call)).first() is None


def test_get_shows_status_attempts_timings_and_result(
    api: Callable[..., Any], tenant: Tenant, session: Session, vault: Vault
) -> None:
    call_id = _enqueue(api, tenant.id, {"operation": "orders.list"}).json["id"]
    call = session.get(Call, call_id)
    assert call is not None
    call.status, call.attempts = CallStatus.SUCCEEDED, 1
    store_payload(session, vault, call, result={"Data": [1]})
    call.started_at = call.finished_at = utcnow()
    session.commit()
    response = api("GET", f"/api/v1/calls/{call_id}")
    assert response.status_code == 200
    assert response.json["status"] == "succeeded"
    assert response.json["attempts"] == 1
    assert response.json["result"] == {"Data": [1]}
    assert response.json["finished_at"] is not None
    assert response.json["error"] is None


def test_get_of_a_failed_call_shows_its_error(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    call_id = _enqueue(api, tenant.id, {"operation": "orders.get", "params": {"id": 1}}).json["id"]
    call = session.get(Call, call_id)
    assert call is not None
    call.status, call.http_status, call.error = CallStatus.FAILED, 404, "orders.get: not found"
    session.commit()
    error = api("GET", f"/api/v1/calls/{call_id}").json["error"]
    assert error == {
        "http_status": 404,
        "code": None,
        "name": None,
        "message": "orders.get: not found",
    }


def test_get_of_a_missing_call_is_404(api: Callable[..., Any], db: Any) -> None:
    for missing in (1, 2**62, 2**70):
        response = api("GET", f"/api/v1/calls/{missing}")
        assert response.status_code == 404
        assert response.json["error"]["code"] == "call_not_found"


def test_a_token_for_tenant_a_cannot_read_or_cancel_a_call_of_tenant_b(
    api: Callable[..., Any],
    client: Any,
    make_tenant: Callable[..., Tenant],
    make_token: Callable[..., str],
) -> None:
    a, b = make_tenant(), make_tenant()
    call_id = _enqueue(api, b.id, {"operation": "orders.list"}).json["id"]
    scoped = make_token(tenant_ids=[a.id])
    assert client.get(f"/api/v1/calls/{call_id}", headers=bearer(scoped)).status_code == 404
    cancel = client.post(f"/api/v1/calls/{call_id}/cancel", headers=bearer(scoped))
    assert cancel.status_code == 404
    listing = client.get(f"/api/v1/tenants/{b.id}/calls", headers=bearer(scoped))
    assert listing.status_code == 404


def test_list_pages_through_a_tenants_calls(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    tenant, other = make_tenant(), make_tenant()
    ids = [_enqueue(api, tenant.id, {"operation": "orders.list"}).json["id"] for _ in range(3)]
    _enqueue(api, other.id, {"operation": "orders.list"})
    first = api("GET", f"/api/v1/tenants/{tenant.id}/calls?limit=2").json
    assert [c["id"] for c in first["items"]] == ids[:2]
    rest = api("GET", f"/api/v1/tenants/{tenant.id}/calls?after={first['next_after']}").json
    assert [c["id"] for c in rest["items"]] == ids[2:]
    assert rest["next_after"] is None


def test_list_filters_by_status_operation_and_time(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    listed = _enqueue(api, tenant.id, {"operation": "orders.list"}).json["id"]
    got = _enqueue(api, tenant.id, {"operation": "orders.get", "params": {"id": 1}}).json["id"]
    call = session.get(Call, got)
    assert call is not None
    call.status = CallStatus.FAILED
    call.enqueued_at = utcnow() - timedelta(days=2)
    session.commit()
    base = f"/api/v1/tenants/{tenant.id}/calls"
    by_status = api("GET", f"{base}?status=failed").json["items"]
    assert [c["id"] for c in by_status] == [got]
    by_operation = api("GET", f"{base}?operation=orders.list").json["items"]
    assert [c["id"] for c in by_operation] == [listed]
    since = (utcnow() - timedelta(days=1)).isoformat()
    recent = api("GET", base, query_string={"since": since}).json["items"]
    assert [c["id"] for c in recent] == [listed]
    old = api("GET", base, query_string={"until": since}).json["items"]
    assert [c["id"] for c in old] == [got]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("status=lost", "status"),
        ("operation=orders.nope", "operation"),
        ("since=yesterday", "since"),
        ("after=-5", "after"),
        ("limit=abc", "limit"),
    ],
)
def test_list_with_a_bad_filter_is_400_naming_it(
    api: Callable[..., Any], tenant: Tenant, query: str, field: str
) -> None:
    response = api("GET", f"/api/v1/tenants/{tenant.id}/calls?{query}")
    assert response.status_code == 400
    assert response.json["error"]["field"] == field


def test_cancel_of_a_queued_call_cancels_it_and_removes_its_job(
    api: Callable[..., Any], tenant: Tenant, redis_client: Redis
) -> None:
    call_id = _enqueue(api, tenant.id, {"operation": "orders.list"}).json["id"]
    response = api("POST", f"/api/v1/calls/{call_id}/cancel")
    assert response.status_code == 200
    assert response.json["status"] == "cancelled"
    assert not Job.exists(f"call-{call_id}", connection=redis_client)


def test_cancel_of_a_finished_call_is_409(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    call_id = _enqueue(api, tenant.id, {"operation": "orders.list"}).json["id"]
    call = session.get(Call, call_id)
    assert call is not None
    call.status = CallStatus.SUCCEEDED
    session.commit()
    response = api("POST", f"/api/v1/calls/{call_id}/cancel")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "call_not_cancellable"


def test_enqueue_refuses_a_bulk_body_over_its_item_cap_naming_the_member(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    body = {"OrderIds": list(range(1, 102)), "Tags": ["x"]}
    response = _enqueue(api, tenant.id, {"operation": "orders.add_tags_multiple", "body": body})
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == "body.OrderIds"
    assert "at most 100" in response.json["error"]["message"]
    assert session.scalars(select(Call)).first() is None


def test_enqueue_takes_a_bulk_body_at_its_item_cap(api: Callable[..., Any], tenant: Tenant) -> None:
    body = [{"OrderId": n, "ProviderId": 1, "ProductId": 1} for n in range(20)]
    response = _enqueue(
        api, tenant.id, {"operation": "shipments.ship_with_label_multiple", "body": body}
    )
    assert response.status_code == 202, response.json


@pytest.mark.parametrize("operation", ["orders.create_invoice", "orders.create_delivery_note"])
def test_enqueue_of_an_invoice_without_the_permission_is_422_naming_billbees_setting(
    api: Callable[..., Any], tenant: Tenant, session: Session, operation: str
) -> None:
    response = _enqueue(api, tenant.id, {"operation": operation, "params": {"id": 1}})
    assert response.status_code == 422, response.json
    error = response.json["error"]
    assert (error["code"], error["field"]) == ("invoice_creation_not_allowed", "operation")
    assert '"Rechnungserstellung"' in error["message"]
    assert session.scalars(select(Call)).first() is None


def test_enqueue_of_an_invoice_with_the_permission_is_queued(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    tenant.invoice_creation_allowed = True
    session.commit()
    response = _enqueue(api, tenant.id, {"operation": "orders.create_invoice", "params": {"id": 1}})
    assert response.status_code == 202, response.json
