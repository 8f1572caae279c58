"""``/signup``: the form, the live check through the tenant service, the confirmation page."""

from __future__ import annotations

from flask import redirect, render_template, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from redis.exceptions import RedisError
from werkzeug.wrappers import Response

from billhive.logs import get_logger
from billhive.platform.extensions import db_session, redis, resources
from billhive.platform.signup.blueprint import FIELD_LIMITS, Page, bp
from billhive.platform.signup.forms import SignupForm, add_rule_problems
from billhive.tenants.contact import contact_email
from billhive.tenants.errors import (
    ApiAccessNotEnabled,
    CredentialsRefused,
    DuplicateUsername,
    RulesViolated,
    TenantError,
    VaultError,
)
from billhive.tenants.links import make_leave_url
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.rules import password_problems, username_problems
from billhive.tenants.service import SignupRequest, sign_up
from billhive.workers.verification import enqueue_verification

log = get_logger(__name__)

#: Session key of the tenant whose confirmation page this browser may see.
WELCOME_KEY = "signup_tenant_id"


@bp.after_request
def _no_store(response: Response) -> Response:
    # Signup pages echo what the merchant typed; no cache or back button may keep them.
    response.headers["Cache-Control"] = "no-store"
    return response


def refusal_message(exc: TenantError) -> str:
    """The merchant-facing text for Billbee's refusal of a username/API password."""
    if isinstance(exc, CredentialsRefused):
        message = _(
            "Billbee refused this username/API password. Check the username and enter the "
            "API password from Settings → Billbee API → General settings (not your login "
            "password)."
        )
    elif isinstance(exc, ApiAccessNotEnabled):
        message = _(
            "API access is switched off for this Billbee account. Switch it on in Billbee "
            "under Settings → Billbee API → General settings, then send the form again."
        )
    else:
        message = _("Billbee refused API access for this account: %(reason)s", reason=str(exc))
    return str(message)


def enqueue_or_log(tenant_id: int) -> None:
    """Queue the later credential check; if Redis is down, log it instead of failing.

    The tenant is already stored as pending, so the merchant's signup is not lost.
    """
    try:
        enqueue_verification(redis(), tenant_id)
    except RedisError:
        log.warning("verification_not_enqueued", tenant_id=tenant_id)


def _signup_request(form: SignupForm) -> SignupRequest:
    return SignupRequest(
        display_name=form.display_name.data or "",
        contact_email=form.contact_email.data or "",
        username=form.billbee_username.data or "",
        password=form.api_password.data or "",
        invoice_creation_allowed=bool(form.invoice_creation_allowed.data),
    )


def _render_form(form: SignupForm, form_errors: list[str], status: int = 200) -> Page:
    page = render_template(
        "signup/form.html", form=form, form_errors=form_errors, limits=FIELD_LIMITS
    )
    return page, status


@bp.route("", methods=["GET", "POST"])
def form() -> ResponseReturnValue:
    """Show the form; on POST check it, ask Billbee, and store or explain the refusal."""
    signup_form = SignupForm()
    if request.method == "GET":
        return _render_form(signup_form, [])
    shape_ok = signup_form.validate()
    broken = username_problems(signup_form.billbee_username.data or "") + password_problems(
        signup_form.api_password.data or ""
    )
    add_rule_problems(signup_form, broken)
    if not shape_ok or broken:
        return _render_form(signup_form, [], 422)
    form_errors: list[str] = []
    try:
        tenant = sign_up(
            db_session(),
            resources().vault,
            _signup_request(signup_form),
            verify=resources().verifier,
        )
    except RulesViolated as exc:
        add_rule_problems(signup_form, exc.problems)
    except DuplicateUsername:
        signup_form.billbee_username.errors = [
            _(
                "This Billbee username is already connected to billhive. If your connection "
                "stopped working, ask us for a reconnect link instead of signing up again."
            )
        ]
    except VaultError:
        raise
    except TenantError as exc:
        form_errors.append(refusal_message(exc))
    else:
        if tenant.status == TenantStatus.PENDING_VERIFICATION:
            enqueue_or_log(tenant.id)
        session[WELCOME_KEY] = tenant.id
        return redirect(url_for("signup.welcome"), code=303)
    return _render_form(signup_form, form_errors, 422)


@bp.get("/welcome")
def welcome() -> ResponseReturnValue:
    """The confirmation page of the tenant this browser just signed up."""
    tenant_id = session.get(WELCOME_KEY)
    tenant = db_session().get(Tenant, tenant_id) if isinstance(tenant_id, int) else None
    if tenant is None or tenant.status == TenantStatus.DELETED:
        return redirect(url_for("signup.form"), code=303)
    pending = tenant.status == TenantStatus.PENDING_VERIFICATION
    return render_template(
        "signup/welcome.html",
        tenant=tenant,
        pending=pending,
        contact_email=contact_email(db_session(), resources().vault, tenant),
        leave_url=make_leave_url(resources().settings, tenant.id),
        leave_days=resources().settings.leave_link_days,
    )
