"""The costs API: the key's bill, a tenant's share, budgets, Billbee's own count."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import AuditEvent, Tenant
from billhive.workers.models import UsageDay
from billhive.workers.usage_models import UsageReconciliation


def _used(session: Session, tenant: Tenant, calls: int, *, last_month: bool = False) -> None:
    day = utcnow().date()
    if last_month:
        day = day.replace(day=1) - timedelta(days=1)
    session.add(UsageDay(tenant_id=tenant.id, day=day, calls=calls, throttled=0))
    session.commit()


def test_the_keys_costs_show_this_month_last_month_and_the_forecast(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    tenant = make_tenant()
    _used(session, tenant, 120_000)
    _used(session, tenant, 100_500, last_month=True)
    body = api("GET", "/api/v1/costs").json
    assert body["this_month"]["calls"] == 120_000
    assert body["this_month"]["bill_eur"] == "10.0000"
    assert body["last_month"]["bill_eur"] == "0.2500"
    assert body["last_month"]["complete"] is True
    assert body["forecast"]["forecast"] is True
    assert body["forecast"]["calls"] >= 120_000
    assert (body["free_calls_per_month"], body["price_per_call_eur"]) == (100_000, "0.0005")


def test_a_tenants_costs_show_its_share_of_the_keys_bill(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    mine, other = make_tenant(), make_tenant()
    _used(session, mine, 150_000)
    _used(session, other, 50_000)
    body = api("GET", f"/api/v1/tenants/{mine.id}/costs").json
    month = body["this_month"]
    assert (month["calls"], month["key_calls"], month["key_bill_eur"]) == (
        150_000,
        200_000,
        "50.0000",
    )
    assert month["share_eur"] == "37.5000"
    assert body["budget"] == {
        "monthly_call_budget": None,
        "hard": False,
        "used": 150_000,
        "over": False,
    }
    assert body["reconciliation"] is None


def test_a_tenants_costs_carry_billbees_count_and_whether_it_differs(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    tenant = make_tenant()
    session.add(
        UsageReconciliation(
            tenant_id=tenant.id,
            month=utcnow().date().replace(day=1),
            billbee_calls=1_000,
            billhive_calls=800,
        )
    )
    session.commit()
    reconciliation = api("GET", f"/api/v1/tenants/{tenant.id}/costs").json["reconciliation"]
    assert (reconciliation["difference"], reconciliation["flagged"]) == (200, True)


def test_a_token_for_another_tenant_sees_no_costs(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], make_token: Callable[..., str]
) -> None:
    mine, other = make_tenant(), make_tenant()
    token = make_token(tenant_ids=[mine.id])
    assert api("GET", f"/api/v1/tenants/{other.id}/costs", as_token=token).status_code == 404


def test_a_budget_is_set_through_the_api_and_audited_with_the_token(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    tenant = make_tenant()
    response = api(
        "PUT",
        f"/api/v1/tenants/{tenant.id}/budget",
        json={"monthly_call_budget": 500, "hard": True, "reason": "trial month"},
    )
    assert response.status_code == 200, response.json
    assert response.json == {"monthly_call_budget": 500, "hard": True, "used": 0, "over": False}
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "budget_changed")).one()
    assert event.actor.startswith("api-token:") and event.reason == "trial month"


def test_a_hard_budget_used_up_refuses_enqueues_with_429_naming_it(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], session: Session
) -> None:
    tenant = make_tenant()
    api("PUT", f"/api/v1/tenants/{tenant.id}/budget", json={"monthly_call_budget": 5, "hard": True})
    _used(session, tenant, 5)
    response = api("POST", f"/api/v1/tenants/{tenant.id}/calls", json={"operation": "orders.list"})
    assert response.status_code == 429
    error = response.json["error"]
    assert error["code"] == "call_budget_exhausted" and "hard budget of 5" in error["message"]


def test_a_budget_out_of_range_is_422_naming_it(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    tenant = make_tenant()
    response = api("PUT", f"/api/v1/tenants/{tenant.id}/budget", json={"monthly_call_budget": 0})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "monthly_call_budget"


def test_a_read_only_token_cannot_set_a_budget(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], make_token: Callable[..., str]
) -> None:
    tenant = make_tenant()
    token = make_token(read_only=True)
    response = api(
        "PUT",
        f"/api/v1/tenants/{tenant.id}/budget",
        json={"monthly_call_budget": 9},
        as_token=token,
    )
    assert response.status_code == 403
