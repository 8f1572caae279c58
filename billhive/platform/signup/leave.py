"""``/signup/leave/<token>``: a merchant confirms leaving, and billhive forgets them.

Leaving deletes the credentials and the data key (crypto-shredding: the sealed contact
e-mail and call payloads can no longer be opened anywhere, backups included), erases the
display name and contact e-mail, purges the payloads of every call and cancels queued
ones. The audit log records that the merchant left, with no personal data.

A link works once: using it deletes the tenant (under a row lock, so two requests with
one link erase once and audit once); afterwards the link shows the "you have left" page.
"""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue

from billhive.feeds.webhooks import remove_now as remove_feed_webhook
from billhive.platform.extensions import db_session, redis, settings, vault
from billhive.platform.signup.blueprint import bp, protect_link_post
from billhive.platform.signup.forms import LeaveForm
from billhive.platform.signup.reconnect import link_problem, tenant_of_link
from billhive.tenants.audit import ACTOR_MERCHANT
from billhive.tenants.links import LinkInvalid, LinkPurpose
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import delete_tenant
from billhive.workers.control import purge_tenant

LEAVE_REASON = "the merchant confirmed leaving through a signed link"


@bp.route("/leave/<token>", methods=["GET", "POST"])
def leave_page(token: str) -> ResponseReturnValue:
    """GET asks for confirmation; POST (with CSRF token) deletes the credentials."""
    protect_link_post()
    found = tenant_of_link(LinkPurpose.LEAVE, token)
    if isinstance(found, LinkInvalid):
        return link_problem(found)
    if found.status == TenantStatus.DELETED:
        return render_template("signup/left.html")
    form = LeaveForm()
    if form.validate_on_submit():
        session = db_session()
        # Locked: of two requests with this link, the second finds the tenant deleted.
        locked = session.get(Tenant, found.id, with_for_update=True, populate_existing=True)
        if locked is None or locked.status == TenantStatus.DELETED:
            session.rollback()
            return render_template("signup/left.html")
        # Before the credentials are shredded: afterwards nothing can ask Billbee.
        remove_feed_webhook(session, settings(), vault(), found.id)
        delete_tenant(session, found.id, actor=ACTOR_MERCHANT, reason=LEAVE_REASON)
        purge_tenant(session, redis(), found.id)
        return render_template("signup/left.html")
    return render_template("signup/leave.html", tenant=found, form=form)
