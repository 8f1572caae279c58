"""The audit log: every tenant state change and every admin action, filterable."""

from __future__ import annotations

from flask import abort, render_template, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.queries import tenant_names
from billhive.platform.extensions import db_session
from billhive.tenants.models import AuditEvent

EVENTS_PER_PAGE = 50
FILTER_MAX = 100


def _number(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        abort(400, f"'{name}' must be a whole number.")
    return int(raw)


def _text(name: str) -> str:
    value = request.args.get(name, "").strip()
    if len(value) > FILTER_MAX:
        abort(400, f"'{name}' may be at most {FILTER_MAX} characters long.")
    return value


@bp.route("/audit")
def audit() -> ResponseReturnValue:
    """Newest events first; filter by tenant, actor and action; keyset pages."""
    tenant_id, before = _number("tenant"), _number("before")
    actor, action = _text("actor"), _text("action")
    statement = select(AuditEvent)
    if tenant_id is not None:
        statement = statement.where(AuditEvent.tenant_id == tenant_id)
    if actor:
        statement = statement.where(AuditEvent.actor == actor)
    if action:
        statement = statement.where(AuditEvent.action == action)
    if before is not None:
        statement = statement.where(AuditEvent.id < before)
    rows = list(
        db_session().scalars(statement.order_by(AuditEvent.id.desc()).limit(EVENTS_PER_PAGE + 1))
    )
    next_before = rows[EVENTS_PER_PAGE - 1].id if len(rows) > EVENTS_PER_PAGE else None
    events = rows[:EVENTS_PER_PAGE]
    ids = [event.tenant_id for event in events if event.tenant_id is not None]
    return render_template(
        "admin/audit.html",
        events=events,
        names=tenant_names(db_session(), ids),
        filters={"tenant": tenant_id, "actor": actor, "action": action},
        next_before=next_before,
    )
