"""Monthly call budgets: soft ones warn, hard ones refuse new calls at enqueue; audited."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import AuditEvent, Tenant
from billhive.tenants.vault import Vault
from billhive.workers.budgets import BudgetError, budget_status, set_budget
from billhive.workers.calls import (
    BudgetExhausted,
    CallRequest,
    StockItem,
    enqueue_call,
    enqueue_calls,
    enqueue_stock_updates,
)
from billhive.workers.models import UsageDay


def _tenant(session: Session, tenant_id: int) -> Tenant:
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant


def _used(session: Session, tenant_id: int, calls: int) -> None:
    session.add(UsageDay(tenant_id=tenant_id, day=utcnow().date(), calls=calls, throttled=0))
    session.commit()


def test_a_budget_change_is_audited_with_before_and_after(
    db_session: Session, make_tenant: Callable[..., int]
) -> None:
    tenant = _tenant(db_session, make_tenant())
    set_budget(db_session, tenant, 1_000, hard=True, actor="admin:1", reason="pilot")
    event = db_session.scalars(
        select(AuditEvent).where(AuditEvent.action == "budget_changed")
    ).one()
    assert event.details == {
        "from": {"monthly_call_budget": None, "hard": False},
        "to": {"monthly_call_budget": 1_000, "hard": True},
    }
    assert (event.actor, event.reason) == ("admin:1", "pilot")


@pytest.mark.parametrize("budget", [0, -5, 2_000_000_000])
def test_a_budget_outside_its_range_is_refused(
    db_session: Session, make_tenant: Callable[..., int], budget: int
) -> None:
    tenant = _tenant(db_session, make_tenant())
    with pytest.raises(BudgetError, match="1 to 1,000,000,000"):
        set_budget(db_session, tenant, budget, hard=False, actor="admin:1", reason="")


def test_the_status_counts_the_months_calls_against_the_budget(
    db_session: Session, make_tenant: Callable[..., int]
) -> None:
    tenant = _tenant(db_session, make_tenant())
    set_budget(db_session, tenant, 200, hard=False, actor="admin:1", reason="")
    _used(db_session, tenant.id, 150)
    status = budget_status(db_session, tenant)
    assert status is not None
    assert (status.used, status.used_percent, status.over) == (150, 75.0, False)


def test_a_soft_budget_over_its_limit_still_queues_calls(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = _tenant(db_session, make_tenant())
    set_budget(db_session, tenant, 100, hard=False, actor="admin:1", reason="")
    _used(db_session, tenant.id, 500)
    assert enqueue_call(
        tenant.id, "orders.list", session=db_session, redis=redis_client, vault=vault
    ).id
    status = budget_status(db_session, tenant)
    assert status is not None and status.over


def test_a_hard_budget_refuses_new_calls_once_used_up(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = _tenant(db_session, make_tenant())
    set_budget(db_session, tenant, 100, hard=True, actor="admin:1", reason="")
    _used(db_session, tenant.id, 99)
    assert enqueue_call(
        tenant.id, "orders.list", session=db_session, redis=redis_client, vault=vault
    ).id
    _used_more = db_session.get(UsageDay, (tenant.id, utcnow().date()))
    assert _used_more is not None
    _used_more.calls = 100
    db_session.commit()
    with pytest.raises(BudgetExhausted, match="100 of its hard budget of 100"):
        enqueue_call(tenant.id, "orders.list", session=db_session, redis=redis_client, vault=vault)
    with pytest.raises(BudgetExhausted):
        enqueue_calls(
            tenant.id,
            [CallRequest("orders.list"), CallRequest("orders.get", {"id": 1})],
            session=db_session,
            redis=redis_client,
            vault=vault,
        )
    with pytest.raises(BudgetExhausted):
        enqueue_stock_updates(
            tenant.id, [StockItem("S-1", 1)], session=db_session, redis=redis_client, vault=vault
        )


def test_last_months_calls_do_not_count_against_this_months_budget(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    from datetime import timedelta

    tenant = _tenant(db_session, make_tenant())
    set_budget(db_session, tenant, 10, hard=True, actor="admin:1", reason="")
    last_month = utcnow().date().replace(day=1) - timedelta(days=1)
    db_session.add(UsageDay(tenant_id=tenant.id, day=last_month, calls=5_000, throttled=0))
    db_session.commit()
    assert enqueue_call(
        tenant.id, "orders.list", session=db_session, redis=redis_client, vault=vault
    ).id


def test_clearing_the_budget_lifts_the_refusal(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = _tenant(db_session, make_tenant())
    set_budget(db_session, tenant, 10, hard=True, actor="admin:1", reason="")
    _used(db_session, tenant.id, 10)
    set_budget(db_session, tenant, None, hard=True, actor="admin:1", reason="lifted")
    assert tenant.budget_hard is False
    assert enqueue_call(
        tenant.id, "orders.list", session=db_session, redis=redis_client, vault=vault
    ).id
