"""``POST /api/v1/tenants/{id}/stock``: one call, and one handle, per item."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.api import bearer
from support.sealed import payload_of

from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call


def _stock(api: Callable[..., Any], tenant_id: int, payload: Any, **kw: Any) -> Any:
    return api("POST", f"/api/v1/tenants/{tenant_id}/stock", json=payload, **kw)


def test_each_item_gets_its_own_call_and_handle_in_order(
    api: Callable[..., Any], tenant: Tenant, session: Session, vault: Vault
) -> None:
    items = [
        {"sku": "A-1", "quantity": 5},
        {"sku": "B-2", "quantity": 0, "stock_id": 3, "reason": "count"},
        {"sku": "C-3", "quantity": 2.5},
    ]
    response = _stock(api, tenant.id, {"items": items})
    assert response.status_code == 202
    handles = response.json["items"]
    assert [h["sku"] for h in handles] == ["A-1", "B-2", "C-3"]
    assert len({h["call"]["id"] for h in handles}) == 3
    assert all(h["call"]["operation"] == "products.update_stock" for h in handles)
    calls = {c.id: c for c in session.scalars(select(Call))}
    second = calls[handles[1]["call"]["id"]]
    body = payload_of(session, vault, second).body
    assert body == {"Sku": "B-2", "NewQuantity": 0, "StockId": 3, "Reason": "count"}


def test_each_handle_can_be_followed_as_a_call(api: Callable[..., Any], tenant: Tenant) -> None:
    handle = _stock(api, tenant.id, {"items": [{"sku": "A-1", "quantity": 1}]}).json["items"][0]
    response = api("GET", f"/api/v1/calls/{handle['call']['id']}")
    assert response.status_code == 200
    assert response.json["status"] == "queued"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"items": []}, "items"),
        ({"items": [{"sku": "", "quantity": 1}]}, "items.0.sku"),
        ({"items": [{"sku": "A", "quantity": 1}, {"sku": "B"}]}, "items.1.quantity"),
        ({"items": [{"sku": "A", "quantity": "7"}]}, "items.0.quantity"),
        ({"items": [{"sku": "A", "quantity": True}]}, "items.0.quantity"),
        ({"items": [{"sku": "A", "quantity": 1, "stock_id": 0}]}, "items.0.stock_id"),
        ({"items": [{"sku": "A", "quantity": 1, "colour": "red"}]}, "items.0.colour"),
        ({"items": [{"sku": "   ", "quantity": 1}]}, "items.0.sku"),
        ({"items": [{"sku": "a\u0000b", "quantity": 1}]}, "items.0.sku"),
        ({"sku": "A", "quantity": 1}, "items"),
    ],
)
def test_bad_items_are_422_naming_the_item_field(
    api: Callable[..., Any], tenant: Tenant, session: Session, payload: Any, field: str
) -> None:
    response = _stock(api, tenant.id, payload)
    assert response.status_code == 422, response.json
    assert response.json["error"]["field"] == field
    assert session.scalars(select(Call)).first() is None


def test_a_retried_stock_request_with_its_key_returns_the_same_handles(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    payload = {"items": [{"sku": "A", "quantity": 1}, {"sku": "B", "quantity": 2}]}
    first = _stock(api, tenant.id, payload, headers={"Idempotency-Key": "stock-1"})
    again = _stock(api, tenant.id, payload, headers={"Idempotency-Key": "stock-1"})
    assert again.status_code == 200
    assert again.json == first.json
    assert len(session.scalars(select(Call)).all()) == 2


def test_a_token_for_tenant_a_cannot_set_stock_for_tenant_b(
    client: Any, make_tenant: Callable[..., Tenant], make_token: Callable[..., str]
) -> None:
    a, b = make_tenant(), make_tenant()
    scoped = make_token(tenant_ids=[a.id])
    response = client.post(
        f"/api/v1/tenants/{b.id}/stock",
        headers=bearer(scoped),
        json={"items": [{"sku": "A", "quantity": 1}]},
    )
    assert response.status_code == 404


@pytest.mark.parametrize(
    "items", [[{"sku": "A", "quantity": 1}], [{"sku": "A", "quantity": 1}] * 2]
)
def test_stock_for_a_missing_tenant_is_404_and_records_nothing(
    api: Callable[..., Any], db: Any, session: Session, items: list[dict[str, Any]]
) -> None:
    response = _stock(api, 424242, {"items": items})
    assert response.status_code == 404, response.json
    assert response.json["error"]["code"] == "tenant_not_found"
    assert session.scalars(select(Call)).all() == []


def test_stock_for_a_disabled_tenant_is_409_and_records_nothing(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    tenant = make_tenant(status=TenantStatus.DISABLED)
    response = _stock(api, tenant.id, {"items": [{"sku": "A", "quantity": 1}] * 2})
    assert response.status_code == 409, response.json
    assert response.json["error"]["code"] == "tenant_not_accepting_calls"
    assert session.scalars(select(Call)).all() == []
