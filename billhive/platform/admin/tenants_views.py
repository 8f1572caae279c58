"""The tenants list (search, filter, sort, pages) and the tenant page."""

from __future__ import annotations

from datetime import timedelta

from flask import abort, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.db import utcnow
from billhive.platform.admin import costs
from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.charts import Chart, stacked_bars
from billhive.platform.admin.forms import ActionForm, BudgetForm
from billhive.platform.admin.queries import (
    MAX_PAGE,
    SEARCH_MAX,
    SORTS,
    TenantQuery,
    search_tenants,
)
from billhive.platform.extensions import db_session, redis, settings, vault
from billhive.tenants.contact import contact_email, contact_emails
from billhive.tenants.models import MAX_TENANT_ID, AuditEvent, Tenant, TenantStatus
from billhive.workers import control
from billhive.workers.models import Call, UsageDay

RECENT_CALLS = 20
HISTORY_EVENTS = 50
CHART_DAYS = 30


def _int_arg(name: str, default: int, *, low: int, high: int) -> int:
    raw = request.args.get(name, "")
    if not raw:
        return default
    if not raw.isdigit():
        abort(400, f"'{name}' must be a whole number.")
    return min(max(int(raw), low), high)


def _tenant_query() -> TenantQuery:
    q = request.args.get("q", "").strip()
    if len(q) > SEARCH_MAX:
        abort(400, f"The search may be at most {SEARCH_MAX} characters long.")
    raw_status = request.args.get("status", "")
    try:
        status = TenantStatus(raw_status) if raw_status else None
    except ValueError:
        abort(400, f"Unknown status '{raw_status}'.")
    sort = request.args.get("sort", "newest")
    if sort not in SORTS:
        abort(400, f"Unknown sort '{sort}'; use one of {', '.join(SORTS)}.")
    page = _int_arg("page", 1, low=1, high=MAX_PAGE)
    return TenantQuery(q=q, status=status, sort=sort, page=page)


@bp.route("/tenants")
def tenants() -> ResponseReturnValue:
    """Every tenant, fifty to a page."""
    query = _tenant_query()
    found = search_tenants(db_session(), vault(), query)
    depths = control.queue_depths(redis(), [tenant.id for tenant in found.items])
    return render_template(
        "admin/tenants.html",
        found=found,
        query=query,
        depths=depths,
        emails=contact_emails(db_session(), vault(), found.items),
        statuses=list(TenantStatus),
        sorts=SORTS,
    )


def tenant_or_404(tenant_id: int) -> Tenant:
    """The tenant ``tenant_id``, or a 404 (for an id no tenant can have, too)."""
    if tenant_id > MAX_TENANT_ID:
        abort(404, f"There is no tenant {tenant_id}.")
    tenant = db_session().get(Tenant, tenant_id)
    if tenant is None:
        abort(404, f"There is no tenant {tenant_id}.")
    return tenant


def _usage_chart(tenant_id: int) -> Chart:
    today = utcnow().date()
    first = today - timedelta(days=CHART_DAYS - 1)
    rows = db_session().scalars(
        select(UsageDay).where(UsageDay.tenant_id == tenant_id, UsageDay.day >= first)
    )
    by_day = {row.day: row for row in rows}
    points = []
    for offset in range(CHART_DAYS):
        day = first + timedelta(days=offset)
        row = by_day.get(day)
        calls = row.calls if row else 0
        throttled = row.throttled if row else 0
        points.append((day.isoformat(), {"calls": calls - throttled, "throttled": throttled}))
    return stacked_bars(points, ("calls", "throttled"))


@bp.route("/tenants/<int:tenant_id>")
def tenant(tenant_id: int) -> ResponseReturnValue:
    """One tenant: status and history, queue, recent calls, calls per day, actions."""
    found = tenant_or_404(tenant_id)
    session = db_session()
    history = session.scalars(
        select(AuditEvent)
        .where(AuditEvent.tenant_id == tenant_id)
        .order_by(AuditEvent.created_at.desc(), AuditEvent.id.desc())
        .limit(HISTORY_EVENTS)
    )
    calls = session.scalars(
        select(Call).where(Call.tenant_id == tenant_id).order_by(Call.id.desc()).limit(RECENT_CALLS)
    )
    return render_template(
        "admin/tenant.html",
        tenant=found,
        contact_email=contact_email(db_session(), vault(), found),
        history=list(history),
        calls=list(calls),
        depth=control.queue_depth(redis(), tenant_id),
        lanes=control.lane_depths(redis(), tenant_id),
        chart=_usage_chart(tenant_id),
        form=ActionForm(),
        budget_form=BudgetForm(
            monthly_call_budget=found.monthly_call_budget,
            mode="hard" if found.budget_hard else "soft",
        ),
        costs=costs.tenant_panel(session, found, settings().usage_diff_threshold_percent),
        statuses=TenantStatus,
    )


@bp.route("/live/tenants/<int:tenant_id>")
def live_tenant(tenant_id: int) -> ResponseReturnValue:
    """A tenant's live figures as JSON (status and queue depth)."""
    found = tenant_or_404(tenant_id)
    return jsonify(
        {"status": found.status.value, "queue_depth": control.queue_depth(redis(), tenant_id)}
    )
