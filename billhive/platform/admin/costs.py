"""The dashboard's cost figures: the key's bill, each tenant's share, budgets, usage
differences and invoice refusals (the lists of what needs an operator's eye)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import Tenant
from billhive.workers import costs, usage_reconcile
from billhive.workers.budgets import BudgetStatus, budget_status
from billhive.workers.models import UsageDay
from billhive.workers.usage_models import UsageReconciliation

#: Rows of each list on the overview.
LIST_ROWS = 10


@dataclass(frozen=True)
class Attention:
    """How many tenants need a look for one reason, and the first of them by id/name."""

    count: int
    rows: list[tuple[Tenant, str]]


@dataclass(frozen=True)
class Overview:
    """Everything the overview shows about costs."""

    key: costs.KeyCosts
    #: The month's biggest callers: (tenant, this month so far, forecast to month end).
    top: list[tuple[Tenant, costs.TenantMonth, costs.TenantMonth]]
    differences: Attention
    over_budget: Attention
    invoice_refused: Attention


def _tenants(session: Session, ids: list[int]) -> dict[int, Tenant]:
    if not ids:
        return {}
    return {t.id: t for t in session.scalars(select(Tenant).where(Tenant.id.in_(ids)))}


def overview(session: Session, threshold_percent: float, now: datetime | None = None) -> Overview:
    """The cost figures of the overview page."""
    now = now or utcnow()
    key = costs.key_costs(session, now)
    top = costs.top_tenant_costs(session, key, LIST_ROWS)
    first = key.this_month.month
    count, flagged = usage_reconcile.flagged(session, first, threshold_percent, LIST_ROWS)
    over_count, over = _over_budget(session, first)
    refused_count = session.scalar(
        select(func.count()).select_from(Tenant).where(Tenant.invoice_refused_at.is_not(None))
    )
    refused = list(
        session.scalars(
            select(Tenant)
            .where(Tenant.invoice_refused_at.is_not(None))
            .order_by(Tenant.invoice_refused_at.desc())
            .limit(LIST_ROWS)
        )
    )
    names = _tenants(session, [t for t, _ in top] + [r.tenant_id for r in flagged])
    return Overview(
        key=key,
        top=[
            (
                names[t],
                month,
                costs.TenantMonth(first, costs.forecast(month.calls, first, now), key.forecast),
            )
            for t, month in top
            if t in names
        ],
        differences=Attention(
            count,
            [
                (
                    names[r.tenant_id],
                    f"Billbee {r.billbee_calls:,}, billhive {r.billhive_calls:,} "
                    f"(difference {r.difference:+,})",
                )
                for r in flagged
                if r.tenant_id in names
            ],
        ),
        over_budget=Attention(over_count, over),
        invoice_refused=Attention(
            int(refused_count or 0),
            [(t, f"refused {t.invoice_refused_at:%Y-%m-%d %H:%M} UTC") for t in refused],
        ),
    )


def _over_budget(session: Session, first: date) -> tuple[int, list[tuple[Tenant, str]]]:
    """Tenants whose month's calls reached their budget (soft or hard)."""
    used = (
        select(UsageDay.tenant_id, func.sum(UsageDay.calls).label("used"))
        .where(UsageDay.day >= first)
        .group_by(UsageDay.tenant_id)
        .subquery()
    )
    condition = (Tenant.monthly_call_budget.is_not(None)) & (
        used.c.used >= Tenant.monthly_call_budget
    )
    joined = select(Tenant, used.c.used).join(used, used.c.tenant_id == Tenant.id).where(condition)
    count = session.scalar(select(func.count()).select_from(joined.subquery()))
    rows = session.execute(joined.order_by(Tenant.id).limit(LIST_ROWS)).all()
    return int(count or 0), [
        (
            tenant,
            f"{int(calls):,} of {tenant.monthly_call_budget:,} "
            f"({'hard: new calls refused' if tenant.budget_hard else 'soft'})",
        )
        for tenant, calls in rows
    ]


@dataclass(frozen=True)
class TenantPanel:
    """A tenant's cost panel: figures, budget, latest reconciliation."""

    costs: costs.TenantCosts
    budget: BudgetStatus | None
    reconciliation: UsageReconciliation | None
    flagged: bool


def tenant_panel(
    session: Session, tenant: Tenant, threshold_percent: float, now: datetime | None = None
) -> TenantPanel:
    """The cost figures of a tenant's page."""
    row = usage_reconcile.latest(session, tenant.id)
    return TenantPanel(
        costs=costs.tenant_costs(session, tenant.id, now or utcnow()),
        budget=budget_status(session, tenant),
        reconciliation=row,
        flagged=row is not None
        and usage_reconcile.is_flagged(row.billbee_calls, row.billhive_calls, threshold_percent),
    )
