"""``/api/v1/costs`` and ``/api/v1/tenants/{id}/costs``: what Billbee bills the key and each
tenant's share; ``/api/v1/tenants/{id}/budget``: the tenant's monthly call budget."""

from __future__ import annotations

from typing import Any

from flask import jsonify
from flask.typing import ResponseReturnValue

from billhive.db import utcnow
from billhive.platform import extensions
from billhive.platform.api.auth import current_scope
from billhive.platform.api.blueprint import bp
from billhive.platform.api.errors import ApiError
from billhive.platform.api.parsing import parse_body
from billhive.platform.api.schemas import (
    BudgetOut,
    BudgetRequest,
    KeyCostsOut,
    TenantCostsOut,
)
from billhive.platform.api.tenants_views import load_tenant
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers import costs, gates, usage_reconcile
from billhive.workers.budgets import BudgetError, budget_status, set_budget


def _key_month(month: costs.KeyMonth) -> dict[str, Any]:
    return {
        "month": month.month,
        "calls": month.calls,
        "bill_eur": month.bill,
        "complete": month.complete,
        "forecast": month.forecast,
    }


def _tenant_month(month: costs.TenantMonth) -> dict[str, Any]:
    return {
        "month": month.month,
        "calls": month.calls,
        "key_calls": month.key.calls,
        "key_bill_eur": month.key.bill,
        "share_eur": month.share,
    }


def _budget(tenant: Tenant) -> dict[str, Any]:
    session = extensions.db_session()
    status = budget_status(session, tenant)
    return {
        "monthly_call_budget": tenant.monthly_call_budget,
        "hard": tenant.budget_hard,
        "used": status.used
        if status
        else gates.calls_this_month(session, tenant.id, gates.month_start()),
        "over": status.over if status else False,
    }


@bp.get("/costs")
def key_costs() -> ResponseReturnValue:
    """The key's Billbee calls and bill: this month so far, last month, forecast."""
    figures = costs.key_costs(extensions.db_session(), utcnow())
    data = {
        "this_month": _key_month(figures.this_month),
        "last_month": _key_month(figures.last_month),
        "forecast": _key_month(figures.forecast),
        "free_calls_per_month": costs.FREE_CALLS_PER_MONTH,
        "price_per_call_eur": costs.PRICE_PER_CALL_EUR,
    }
    return jsonify(KeyCostsOut.model_validate(data).model_dump(mode="json"))


@bp.get("/tenants/<int:tenant_id>/costs")
def tenant_costs(tenant_id: int) -> ResponseReturnValue:
    """A tenant's calls and share of the bill, its budget and Billbee's own count."""
    tenant = load_tenant(tenant_id)
    session = extensions.db_session()
    figures = costs.tenant_costs(session, tenant.id, utcnow())
    row = usage_reconcile.latest(session, tenant.id)
    threshold = extensions.settings().usage_diff_threshold_percent
    data = {
        "tenant_id": tenant.id,
        "this_month": _tenant_month(figures.this_month),
        "last_month": _tenant_month(figures.last_month),
        "forecast": _tenant_month(figures.forecast),
        "budget": _budget(tenant),
        "reconciliation": None
        if row is None
        else {
            "month": row.month,
            "billbee_calls": row.billbee_calls,
            "billhive_calls": row.billhive_calls,
            "difference": row.difference,
            "flagged": usage_reconcile.is_flagged(row.billbee_calls, row.billhive_calls, threshold),
            "checked_at": row.checked_at,
            "error": row.error,
        },
    }
    return jsonify(TenantCostsOut.model_validate(data).model_dump(mode="json"))


@bp.put("/tenants/<int:tenant_id>/budget")
def put_budget(tenant_id: int) -> ResponseReturnValue:
    """Set or clear the tenant's monthly call budget (audited with the token as actor)."""
    tenant = load_tenant(tenant_id)
    if tenant.status is TenantStatus.DELETED:
        raise ApiError(
            409, "conflict", f"Tenant {tenant_id} is deleted; it has no budget.", field="tenant_id"
        )
    asked = parse_body(BudgetRequest)
    try:
        set_budget(
            extensions.db_session(),
            tenant,
            asked.monthly_call_budget,
            hard=asked.hard,
            actor=f"api-token:{current_scope().token_id}",
            reason=asked.reason or "budget set through the API",
        )
    except BudgetError as exc:  # the schema checks the range first; kept for safety
        raise ApiError(422, "validation_failed", str(exc), field="monthly_call_budget") from None
    return jsonify(BudgetOut.model_validate(_budget(tenant)).model_dump(mode="json"))
