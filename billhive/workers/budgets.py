"""Optional monthly call budgets per tenant: soft (warn) or hard (refuse new calls).

A budget counts the tenant's Billbee calls of the current (UTC) month, as ``usage_days``
records them. A soft budget only warns: the dashboard and the API show the tenant as over
it. A hard budget also refuses new calls at enqueue once it is used up (API: 429
``call_budget_exhausted``; the check is part of the enqueue's one statement, see
:mod:`billhive.workers.gates`). Calls already queued still run, and the platform's own
calls (re-verification, the usage reconciliation) are not budgeted: the usage counts lag
the queue, so a burst queued before its calls ran can overshoot a hard budget by the
queue's depth. Every change is written to the audit log.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from billhive.tenants.audit import record
from billhive.tenants.models import Tenant
from billhive.workers import gates

#: The largest budget that can be set (calls a month).
MAX_BUDGET = 1_000_000_000


class BudgetError(ValueError):
    """A budget that cannot be set; the message names the problem."""


@dataclass(frozen=True)
class BudgetStatus:
    """A tenant's budget and how much of it this month's calls used."""

    monthly_call_budget: int
    hard: bool
    used: int

    @property
    def over(self) -> bool:
        """True once the month's calls reached the budget."""
        return self.used >= self.monthly_call_budget

    @property
    def used_percent(self) -> float:
        """The month's calls as a percentage of the budget."""
        return round(100 * self.used / self.monthly_call_budget, 1)


def budget_status(session: Session, tenant: Tenant) -> BudgetStatus | None:
    """The tenant's budget this month, or None when it has none."""
    if tenant.monthly_call_budget is None:
        return None
    used = gates.calls_this_month(session, tenant.id, gates.month_start())
    return BudgetStatus(tenant.monthly_call_budget, tenant.budget_hard, used)


def set_budget(
    session: Session,
    tenant: Tenant,
    monthly_call_budget: int | None,
    *,
    hard: bool,
    actor: str,
    reason: str,
) -> None:
    """Set (or with None clear) the tenant's monthly budget, audited; commits.

    Raises BudgetError for a budget outside 1..MAX_BUDGET.
    """
    if monthly_call_budget is not None and not 1 <= monthly_call_budget <= MAX_BUDGET:
        raise BudgetError(
            f"a monthly call budget must be 1 to {MAX_BUDGET:,} calls, not {monthly_call_budget}"
        )
    hard = hard and monthly_call_budget is not None
    before = {"monthly_call_budget": tenant.monthly_call_budget, "hard": tenant.budget_hard}
    after = {"monthly_call_budget": monthly_call_budget, "hard": hard}
    if before == after:
        return
    tenant.monthly_call_budget = monthly_call_budget
    tenant.budget_hard = hard
    record(
        session,
        tenant.id,
        actor=actor,
        action="budget_changed",
        reason=reason,
        details={"from": before, "to": after},
    )
    session.commit()
