"""``/signup/reconnect/<token>``: a merchant enters a new API password from a signed link."""

from __future__ import annotations

from flask import render_template
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _

from billhive.platform.extensions import db_session, redis, resources, settings
from billhive.platform.signup.blueprint import (
    FIELD_LIMITS,
    Page,
    bp,
    protect_link_post,
    render_problem,
)
from billhive.platform.signup.forms import ReconnectForm, add_rule_problems
from billhive.platform.signup.views import enqueue_or_log, refusal_message
from billhive.tenants.errors import (
    RulesViolated,
    TenantError,
    TenantNotFound,
    TenantStateError,
    VaultError,
)
from billhive.tenants.lifecycle import may_reconnect
from billhive.tenants.links import Link, LinkInvalid, LinkPurpose, read_link
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.rules import password_problems
from billhive.tenants.service import reconnect
from billhive.workers.control import release_queue


def link_problem(exc: LinkInvalid | None = None) -> Page:
    """The page for a damaged, expired or no longer usable link."""
    if exc is not None and exc.expired:
        message = _("This link has expired. Please ask us for a new one.")
    else:
        message = _("This link is not valid (any more). Please ask us for a new one.")
    return render_problem(404, str(_("Link not valid")), str(message), back=False)


def link_and_tenant(purpose: LinkPurpose, token: str) -> tuple[Link, Tenant] | LinkInvalid:
    """What a signed link names and its tenant, or why the link cannot be used (a
    reconnect link also once it was used or a newer one was made)."""
    try:
        link = read_link(settings(), purpose, token)
    except LinkInvalid as exc:
        return exc
    tenant = db_session().get(Tenant, link.tenant_id)
    if tenant is None:
        return LinkInvalid(purpose, expired=False)
    if purpose is LinkPurpose.RECONNECT and link.serial != tenant.reconnect_link_serial:
        return LinkInvalid(purpose, expired=False)
    return link, tenant


def tenant_of_link(purpose: LinkPurpose, token: str) -> Tenant | LinkInvalid:
    """The tenant a usable signed link names, or why the link cannot be used."""
    found = link_and_tenant(purpose, token)
    return found if isinstance(found, LinkInvalid) else found[1]


def _render(tenant: Tenant, form: ReconnectForm, form_errors: list[str], status: int) -> Page:
    page = render_template(
        "signup/reconnect.html",
        tenant=tenant,
        form=form,
        form_errors=form_errors,
        limits=FIELD_LIMITS,
    )
    return page, status


@bp.route("/reconnect/<token>", methods=["GET", "POST"])
def reconnect_page(token: str) -> ResponseReturnValue:
    """Ask for the new API password; on POST check the rules, verify it, store it."""
    protect_link_post()
    found = link_and_tenant(LinkPurpose.RECONNECT, token)
    if isinstance(found, LinkInvalid):
        return link_problem(found)
    link, tenant = found
    if not may_reconnect(tenant.status):
        return link_problem()
    form = ReconnectForm()
    if not form.is_submitted():
        form.invoice_creation_allowed.data = tenant.invoice_creation_allowed
        return _render(tenant, form, [], 200)
    shape_ok = form.validate()
    add_rule_problems(form, password_problems(form.api_password.data or ""))
    if not shape_ok or form.api_password.errors:
        return _render(tenant, form, [], 422)
    form_errors: list[str] = []
    try:
        done = reconnect(
            db_session(),
            resources().vault,
            tenant.id,
            form.api_password.data or "",
            verify=resources().verifier,
            invoice_creation_allowed=bool(form.invoice_creation_allowed.data),
            link_serial=link.serial,
        )
    except RulesViolated as exc:
        add_rule_problems(form, exc.problems)
    except (TenantNotFound, TenantStateError):
        return link_problem()
    except VaultError:
        raise
    except TenantError as exc:
        form_errors.append(refusal_message(exc))
    else:
        if not done.verified:
            enqueue_or_log(done.tenant.id)
        elif done.tenant.status == TenantStatus.ACTIVE:
            release_queue(redis(), done.tenant.id)
        page = render_template(
            "signup/reconnected.html", tenant=done.tenant, pending=not done.verified
        )
        return page
    return _render(tenant, form, form_errors, 422)
