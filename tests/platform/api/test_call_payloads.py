"""The API opens sealed payloads for the caller and serves none once they are gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis import Redis
from sqlalchemy.orm import Session
from support.sealed import store_payload

from billhive.tenants.models import Tenant
from billhive.tenants.service import delete_tenant
from billhive.tenants.vault import Vault
from billhive.workers.control import purge_tenant
from billhive.workers.models import Call, CallStatus

BODY = {"Tags": ["Erika Mustermann", "erika@kundin.example"]}


def _enqueue(api: Callable[..., Any], tenant: Tenant) -> int:
    response = api(
        "POST",
        f"/api/v1/tenants/{tenant.id}/calls",
        json={"operation": "orders.add_tags", "params": {"id": 7}, "body": BODY},
    )
    assert response.status_code == 202, response.json
    call_id: int = response.json["id"]
    return call_id


def test_a_call_is_shown_with_its_opened_parameters_and_result(
    api: Callable[..., Any], tenant: Tenant, session: Session, vault: Vault
) -> None:
    call_id = _enqueue(api, tenant)
    call = session.get(Call, call_id)
    assert call is not None
    call.status = CallStatus.SUCCEEDED
    store_payload(session, vault, call, params={"id": 7}, body=BODY, result={"Tags": 2})
    session.commit()
    shown = api("GET", f"/api/v1/calls/{call_id}").json
    assert (shown["params"], shown["result"], shown["payload"]) == (
        {"id": 7},
        {"Tags": 2},
        "available",
    )


def test_a_deleted_tenants_call_is_served_without_its_payload(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis
) -> None:
    call_id = _enqueue(api, tenant)
    delete_tenant(session, tenant.id, actor="test", reason="test")
    response = api("GET", f"/api/v1/calls/{call_id}")
    assert response.status_code == 200
    assert (response.json["params"], response.json["result"], response.json["payload"]) == (
        {},
        None,
        "purged",
    )
    purge_tenant(session, redis_client, tenant.id)
    listed = api("GET", f"/api/v1/tenants/{tenant.id}/calls").json["items"]
    assert [c["payload"] for c in listed] == ["purged"]
    assert "Erika" not in str(listed)


def test_a_leave_link_can_be_issued_and_comes_with_every_reconnect_link(
    api: Callable[..., Any], tenant: Tenant
) -> None:
    leave = api("POST", f"/api/v1/tenants/{tenant.id}/leave-link")
    assert leave.status_code == 201 and "/signup/leave/" in leave.json["url"]
    reconnect = api("POST", f"/api/v1/tenants/{tenant.id}/reconnect-link")
    assert reconnect.status_code == 201 and "/signup/leave/" in reconnect.json["leave_url"]


def test_no_leave_link_for_a_deleted_tenant(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    delete_tenant(session, tenant.id, actor="test", reason="test")
    response = api("POST", f"/api/v1/tenants/{tenant.id}/leave-link")
    assert response.status_code == 409 and response.json["error"]["code"] == "tenant_deleted"


def test_a_tenant_is_shown_with_its_opened_contact_email_and_without_it_once_deleted(
    api: Callable[..., Any], tenant: Tenant, session: Session
) -> None:
    assert (
        api("GET", f"/api/v1/tenants/{tenant.id}").json["contact_email"].endswith("@shop.example")
    )
    delete_tenant(session, tenant.id, actor="test", reason="test")
    shown = api("GET", f"/api/v1/tenants/{tenant.id}").json
    assert (shown["contact_email"], shown["display_name"]) == ("", f"deleted tenant #{tenant.id}")
