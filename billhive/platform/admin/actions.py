"""What an admin can do to a tenant: pause, resume, re-verify, reconnect link, disable,
delete (after a confirmation page), requeue failed calls; and requeue or cancel one call.

Every action is a POST with a CSRF token, goes through the same services as the rest of
the platform, and lands in the audit log with the admin as the actor.
"""

from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.feeds.webhooks import remove_now as remove_feed_webhook
from billhive.platform.admin.auth import current_admin
from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.forms import ActionForm, BudgetForm, DeleteForm
from billhive.platform.admin.tenants_views import tenant_or_404
from billhive.platform.extensions import db_session, redis, settings, vault
from billhive.tenants.audit import record, set_status
from billhive.tenants.contact import contact_email
from billhive.tenants.errors import TenantStateError
from billhive.tenants.lifecycle import may_reconnect, may_reverify
from billhive.tenants.links import make_leave_url, make_reconnect_url
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import delete_tenant
from billhive.workers import control
from billhive.workers.budgets import BudgetError, set_budget
from billhive.workers.calls import requeue_calls
from billhive.workers.models import Call, CallStatus
from billhive.workers.scheduling.dispatcher import Dispatcher
from billhive.workers.verification import enqueue_verification

#: Failed calls requeued per click at most (a click must stay quick).
REQUEUE_BATCH = 1000


def _tenant(tenant_id: int) -> Tenant:
    return tenant_or_404(tenant_id)


def _reason(form: ActionForm | DeleteForm, default: str) -> str:
    return (form.reason.data or "").strip() or default


def _back(tenant_id: int) -> ResponseReturnValue:
    return redirect(url_for("admin.tenant", tenant_id=tenant_id))


def _checked_form(tenant_id: int) -> ActionForm:
    _tenant(tenant_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400, "; ".join(str(e) for errors in form.errors.values() for e in errors))
    return form


@bp.route("/tenants/<int:tenant_id>/pause", methods=["POST"])
def pause(tenant_id: int) -> ResponseReturnValue:
    """Stop running the tenant's calls; queued calls wait in order."""
    form = _checked_form(tenant_id)
    admin = current_admin()
    try:
        control.pause_tenant(
            db_session(), redis(), tenant_id, actor=admin.actor, reason=_reason(form, "paused")
        )
    except TenantStateError as exc:
        flash(f"Not paused: {exc}.", "error")
    else:
        # A paused tenant's calls wait, so Billbee is asked directly; resuming registers
        # the webhook again (feeds/webhooks.sync_webhooks).
        remove_feed_webhook(db_session(), settings(), vault(), tenant_id)
        flash("Paused. Queued calls wait until you resume.")
    return _back(tenant_id)


@bp.route("/tenants/<int:tenant_id>/resume", methods=["POST"])
def resume(tenant_id: int) -> ResponseReturnValue:
    """Run the tenant's calls again."""
    form = _checked_form(tenant_id)
    admin = current_admin()
    try:
        control.resume_tenant(
            db_session(), redis(), tenant_id, actor=admin.actor, reason=_reason(form, "resumed")
        )
    except TenantStateError as exc:
        flash(f"Not resumed: {exc}.", "error")
    else:
        flash("Resumed.")
    return _back(tenant_id)


@bp.route("/tenants/<int:tenant_id>/verify", methods=["POST"])
def verify(tenant_id: int) -> ResponseReturnValue:
    """Check the stored credentials with Billbee again, now (a job on the system queue)."""
    form = _checked_form(tenant_id)
    tenant, admin, session = _tenant(tenant_id), current_admin(), db_session()
    if not may_reverify(tenant.status):
        flash(f"A {tenant.status.value} tenant cannot be re-verified.", "error")
        return _back(tenant_id)
    # The verification job checks pending tenants only; it moves the tenant on from there.
    reason = _reason(form, "re-verification requested")
    if tenant.status == TenantStatus.PENDING_VERIFICATION:
        record(session, tenant_id, actor=admin.actor, action="reverify_requested", reason=reason)
    else:
        set_status(
            session,
            tenant,
            TenantStatus.PENDING_VERIFICATION,
            actor=admin.actor,
            reason=reason,
            action="reverify_requested",
        )
    session.commit()
    enqueue_verification(redis(), tenant_id)
    flash("Verification queued; the status changes when Billbee has answered.")
    return _back(tenant_id)


@bp.route("/tenants/<int:tenant_id>/reconnect-link", methods=["POST"])
def reconnect_link(tenant_id: int) -> ResponseReturnValue:
    """Make a link (valid a week, once) where the merchant enters a new API password; the
    tenant's older reconnect links stop working."""
    form = _checked_form(tenant_id)
    tenant, admin = _tenant(tenant_id), current_admin()
    if not may_reconnect(tenant.status):
        flash(f"A {tenant.status.value} tenant cannot reconnect.", "error")
        return _back(tenant_id)
    url = make_reconnect_url(db_session(), settings(), tenant_id)
    record(
        db_session(),
        tenant_id,
        actor=admin.actor,
        action="reconnect_link_made",
        reason=_reason(form, "reconnect link made"),
    )
    db_session().commit()
    # Shown on this response only: the link is a bearer token, so it is not put in the
    # (signed, not encrypted) session cookie as a flash message would be.
    return render_template(
        "admin/reconnect_link.html",
        tenant=tenant,
        url=url,
        leave_url=make_leave_url(settings(), tenant_id),
        contact_email=contact_email(db_session(), vault(), tenant),
    )


@bp.route("/tenants/<int:tenant_id>/disable", methods=["POST"])
def disable(tenant_id: int) -> ResponseReturnValue:
    """Stop the tenant for good (until re-enabled by hand): no calls run, none are accepted."""
    form = _checked_form(tenant_id)
    tenant, admin, session = _tenant(tenant_id), current_admin(), db_session()
    if tenant.status == TenantStatus.DELETED:
        flash("A deleted tenant cannot be disabled.", "error")
        return _back(tenant_id)
    # A disabled tenant takes no calls, so its webhook is removed now or never.
    remove_feed_webhook(session, settings(), vault(), tenant_id)
    set_status(
        session,
        tenant,
        TenantStatus.DISABLED,
        actor=admin.actor,
        reason=_reason(form, "disabled"),
        action="disabled",
    )
    session.commit()
    Dispatcher(redis()).pause(str(tenant_id))
    flash("Disabled. Its calls no longer run.")
    return _back(tenant_id)


@bp.route("/tenants/<int:tenant_id>/delete", methods=["GET", "POST"])
def delete(tenant_id: int) -> ResponseReturnValue:
    """Confirm, then crypto-shred the tenant: its credentials are gone for good."""
    tenant, form = _tenant(tenant_id), DeleteForm()
    if request.method == "GET" or not form.validate_on_submit():
        status = 400 if request.method == "POST" else 200
        return render_template("admin/delete.html", tenant=tenant, form=form), status
    if (form.confirm.data or "").strip() != str(tenant_id):
        form.confirm.errors = [f"Type {tenant_id} to confirm."]
        return render_template("admin/delete.html", tenant=tenant, form=form), 400
    admin = current_admin()
    # Before the credentials are shredded: afterwards nothing can ask Billbee.
    remove_feed_webhook(db_session(), settings(), vault(), tenant_id)
    delete_tenant(db_session(), tenant_id, actor=admin.actor, reason=_reason(form, "deleted"))
    # Also run by the reconciliation job; doing it now stops the calls at once.
    cancelled = control.purge_tenant(db_session(), redis(), tenant_id)
    flash(f"Tenant {tenant_id} deleted; {cancelled} queued calls cancelled.")
    return _back(tenant_id)


@bp.route("/tenants/<int:tenant_id>/requeue-failed", methods=["POST"])
def requeue_failed(tenant_id: int) -> ResponseReturnValue:
    """Queue the tenant's failed and unknown-outcome calls again."""
    form = _checked_form(tenant_id)
    session, admin = db_session(), current_admin()
    ids = session.scalars(
        select(Call.id)
        .where(
            Call.tenant_id == tenant_id,
            Call.status.in_([CallStatus.FAILED, CallStatus.UNKNOWN_OUTCOME]),
        )
        .order_by(Call.id)
        .limit(REQUEUE_BATCH)
    ).all()
    count = requeue_calls(ids, session=session, redis=redis(), vault=vault()) if ids else 0
    record(
        session,
        tenant_id,
        actor=admin.actor,
        action="calls_requeued",
        reason=_reason(form, "failed calls requeued"),
        details={"count": count},
    )
    session.commit()
    flash(f"{count} calls queued again.")
    return _back(tenant_id)


@bp.route("/tenants/<int:tenant_id>/budget", methods=["POST"])
def budget(tenant_id: int) -> ResponseReturnValue:
    """Set or clear the tenant's monthly call budget (audited)."""
    tenant, form = _tenant(tenant_id), BudgetForm()
    if not form.validate_on_submit():
        if form.csrf_token.errors:
            abort(400, "; ".join(str(e) for e in form.csrf_token.errors))
        problems = "; ".join(str(e) for errors in form.errors.values() for e in errors)
        flash(f"Budget not changed: {problems}.", "error")
        return _back(tenant_id)
    admin = current_admin()
    try:
        set_budget(
            db_session(),
            tenant,
            form.monthly_call_budget.data,
            hard=form.mode.data == "hard",
            actor=admin.actor,
            reason=(form.reason.data or "").strip() or "budget changed",
        )
    except BudgetError as exc:
        flash(f"Budget not changed: {exc}.", "error")
        return _back(tenant_id)
    if form.monthly_call_budget.data is None:
        flash("Budget cleared.")
    else:
        flash(f"Budget set: {form.monthly_call_budget.data:,} calls a month ({form.mode.data}).")
    return _back(tenant_id)
