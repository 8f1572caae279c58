"""``PUT /api/v1/tenants/{id}/feeds``: switching a tenant's change feeds, shown on the tenant."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.feeds.models import Feed, Resource
from billhive.tenants.models import Tenant, TenantStatus


def _state(response: Any) -> dict[str, bool]:
    return {f["resource"]: f["enabled"] for f in response.json["feeds"]}


def test_switching_feeds_on_creates_them_and_the_tenant_shows_them(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    response = api("PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={"on": ["orders", "stock"]})
    assert response.status_code == 200, response.json
    assert response.json["tenant_id"] == tenant.id
    assert _state(response) == {"orders": True, "stock": True}
    rows = session.scalars(select(Feed).where(Feed.tenant_id == tenant.id)).all()
    assert {f.resource for f in rows} == {Resource.ORDERS, Resource.STOCK}

    shown = api("GET", f"/api/v1/tenants/{tenant.id}")
    assert _state(shown) == {"orders": True, "stock": True}
    listed = api("GET", "/api/v1/tenants").json["items"]
    assert {f["resource"] for f in listed[0]["feeds"]} == {"orders", "stock"}


def test_switching_one_feed_off_leaves_the_others_on(
    api: Callable[..., Any], tenant: Tenant
) -> None:
    api("PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={"on": ["orders", "shipments"]})
    response = api("PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={"off": ["shipments"]})
    assert response.status_code == 200
    assert _state(response) == {"orders": True, "shipments": False}


def test_a_tenant_without_feeds_shows_an_empty_list(
    api: Callable[..., Any], tenant: Tenant
) -> None:
    assert api("GET", f"/api/v1/tenants/{tenant.id}").json["feeds"] == []


def test_an_unknown_resource_is_422_naming_the_field(
    api: Callable[..., Any], tenant: Tenant
) -> None:
    response = api("PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={"on": ["invoices"]})
    assert response.status_code == 422
    assert response.json["error"]["field"].startswith("on")


def test_a_resource_both_on_and_off_is_422(api: Callable[..., Any], tenant: Tenant) -> None:
    response = api(
        "PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={"on": ["orders"], "off": ["orders"]}
    )
    assert response.status_code == 422
    assert "both on and off" in response.json["error"]["message"]


def test_an_empty_request_is_422(api: Callable[..., Any], tenant: Tenant) -> None:
    response = api("PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "on"


def test_a_deleted_tenant_cannot_switch_feeds_on(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    gone = make_tenant(TenantStatus.DELETED)
    response = api("PUT", f"/api/v1/tenants/{gone.id}/feeds", json={"on": ["orders"]})
    assert response.status_code == 409


def test_a_read_only_token_cannot_switch_feeds(
    api: Callable[..., Any], make_token: Callable[..., str], tenant: Tenant
) -> None:
    reader = make_token("reader", read_only=True)
    response = api(
        "PUT", f"/api/v1/tenants/{tenant.id}/feeds", json={"on": ["orders"]}, as_token=reader
    )
    assert response.status_code == 403


def test_a_tenant_outside_the_tokens_scope_is_404(
    api: Callable[..., Any], make_token: Callable[..., str], make_tenant: Callable[..., Tenant]
) -> None:
    mine, other = make_tenant(), make_tenant()
    scoped = make_token("scoped", tenant_ids=[mine.id])
    response = api(
        "PUT", f"/api/v1/tenants/{other.id}/feeds", json={"on": ["orders"]}, as_token=scoped
    )
    assert response.status_code == 404
