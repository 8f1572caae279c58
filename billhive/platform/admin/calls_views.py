"""Calls across tenants (filter by status, operation, tenant) and the call page."""

from __future__ import annotations

import json
from typing import Any

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from billhive.billbee.operations import OPERATIONS
from billhive.platform.admin.auth import current_admin
from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.forms import ActionForm
from billhive.platform.admin.queries import CallQuery, search_calls, tenant_names
from billhive.platform.admin.redact import redacted
from billhive.platform.extensions import db_session, redis, vault
from billhive.tenants.audit import record
from billhive.workers import payloads
from billhive.workers.calls import cancel_call, requeue_calls
from billhive.workers.models import MAX_CALL_ID, Call, CallStatus


def _optional_int(name: str) -> int | None:
    raw = request.args.get(name, "").strip()
    if not raw:
        return None
    if not raw.isdigit() or len(raw) > 18:
        abort(400, f"'{name}' must be a whole number.")
    return int(raw)


def _call_query() -> CallQuery:
    raw_status = request.args.get("status", "")
    try:
        status = CallStatus(raw_status) if raw_status else None
    except ValueError:
        abort(400, f"Unknown call status '{raw_status}'.")
    operation = request.args.get("operation", "").strip()
    if operation and operation not in OPERATIONS:
        abort(400, f"Unknown operation '{operation}'.")
    return CallQuery(
        status=status,
        operation=operation,
        tenant_id=_optional_int("tenant"),
        before=_optional_int("before"),
    )


@bp.route("/calls")
def calls() -> ResponseReturnValue:
    """Calls of every tenant, newest first, fifty to a page."""
    query = _call_query()
    found = search_calls(db_session(), query)
    names = tenant_names(db_session(), [call.tenant_id for call in found.items])
    return render_template(
        "admin/calls.html",
        found=found,
        query=query,
        names=names,
        statuses=list(CallStatus),
        operations=sorted(OPERATIONS),
    )


def _call_or_404(call_id: int) -> Call:
    # Call ids are 64-bit: a longer number is no call, not an overflow in the query.
    call = db_session().get(Call, call_id) if call_id <= MAX_CALL_ID else None
    if call is None:
        abort(404, f"There is no call {call_id}.")
    return call


def _pretty(value: Any) -> str:
    return json.dumps(redacted(value), indent=2, sort_keys=True, ensure_ascii=False, default=str)


@bp.route("/calls/<int:call_id>")
def call(call_id: int) -> ResponseReturnValue:
    """One call: timings, attempts, the request's parameters and body, the outcome."""
    found = _call_or_404(call_id)
    payload = payloads.read_call(db_session(), vault(), found)
    waited = ran = None
    if found.started_at is not None:
        waited = (found.started_at - found.enqueued_at).total_seconds()
        if found.finished_at is not None:
            ran = (found.finished_at - found.started_at).total_seconds()
    return render_template(
        "admin/call.html",
        call=found,
        tenant_name=tenant_names(db_session(), [found.tenant_id]).get(found.tenant_id, "?"),
        payload=payload,
        params=_pretty(payload.params),
        body=None if payload.body is None else _pretty(payload.body),
        result=None if payload.result is None else _pretty(payload.result),
        waited=waited,
        ran=ran,
        form=ActionForm(),
    )


def _call_action(call_id: int) -> tuple[Call, ActionForm]:
    found = _call_or_404(call_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "; ".join(str(e) for errors in form.errors.values() for e in errors))
    return found, form


@bp.route("/calls/<int:call_id>/requeue", methods=["POST"])
def requeue_call(call_id: int) -> ResponseReturnValue:
    """Queue a failed or unknown-outcome call again, at the tail of its tenant's queue."""
    found, form = _call_action(call_id)
    session, admin = db_session(), current_admin()
    tenant_id = found.tenant_id
    if requeue_calls([call_id], session=session, redis=redis(), vault=vault()):
        record(
            session,
            tenant_id,
            actor=admin.actor,
            action="calls_requeued",
            reason=(form.reason.data or "").strip() or "call requeued",
            details={"count": 1, "call_id": call_id},
        )
        session.commit()
        flash("Queued again.")
    else:
        flash("Only failed calls and calls with an unknown outcome can be queued again.", "error")
    return redirect(url_for("admin.call", call_id=call_id))


@bp.route("/calls/<int:call_id>/cancel", methods=["POST"])
def cancel(call_id: int) -> ResponseReturnValue:
    """Cancel a call that has not started yet."""
    found, form = _call_action(call_id)
    session, admin = db_session(), current_admin()
    tenant_id = found.tenant_id
    if cancel_call(call_id, session=session, redis=redis()):
        record(
            session,
            tenant_id,
            actor=admin.actor,
            action="call_cancelled",
            reason=(form.reason.data or "").strip() or "call cancelled",
            details={"call_id": call_id},
        )
        session.commit()
        flash("Cancelled.")
    else:
        flash("Only a call that is still queued can be cancelled.", "error")
    return redirect(url_for("admin.call", call_id=call_id))
