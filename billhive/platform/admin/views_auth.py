"""Login (password, then the TOTP code when enabled), logout and TOTP enrolment."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from billhive.platform.admin import accounts
from billhive.platform.admin.auth import (
    client_address,
    current_admin,
    end_session,
    pending_second_step,
    remember_second_step,
    safe_next,
    start_session,
)
from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.forms import ActionForm, CodeForm, LoginForm
from billhive.platform.admin.lockout import Lock, Lockout
from billhive.platform.extensions import db_session, redis
from billhive.tenants.audit import record

_FAILED = "Wrong e-mail or password."


def _audit(action: str, actor: str, details: dict[str, str] | None = None) -> None:
    record(db_session(), None, actor=actor, action=action, details=details or {})
    db_session().commit()


def _locked_page(form: LoginForm, lock: Lock) -> ResponseReturnValue:
    return render_template("admin/login.html", form=form, error=lock.message), 429


@bp.route("/login", methods=["GET", "POST"])
def login() -> ResponseReturnValue:
    """The login form; too many failures lock the account and the address for a while."""
    form = LoginForm()
    if request.method == "GET":
        form.next.data = request.args.get("next", "")
        return render_template("admin/login.html", form=form, error=None)
    if not form.validate_on_submit():
        return render_template("admin/login.html", form=form, error=None), 400
    email, address = form.email.data, client_address()
    lockout = Lockout(redis())
    lock = lockout.check(email, address)
    if lock is not None:
        return _locked_page(form, lock)
    admin = accounts.check_password(db_session(), email, form.password.data)
    if admin is None:
        lock = lockout.record_failure(email, address)
        _audit("admin_login_failed", "anonymous", {"locked": lock.scope if lock else ""})
        if lock is not None:
            return _locked_page(form, lock)
        return render_template("admin/login.html", form=form, error=_FAILED), 401
    next_url = safe_next(form.next.data)
    if admin.totp_enabled:
        remember_second_step(admin, next_url)
        return redirect(url_for("admin.login_code"))
    lockout.record_success(email)
    start_session(admin)
    _audit("admin_logged_in", admin.actor)
    return redirect(next_url)


@bp.route("/login/code", methods=["GET", "POST"])
def login_code() -> ResponseReturnValue:
    """Login's second step: the TOTP code. Wrong codes count towards the lockout."""
    pending = pending_second_step()
    if pending is None:
        flash("Please log in again.", "error")
        return redirect(url_for("admin.login"))
    admin, next_url = pending
    form = CodeForm()
    if request.method == "GET":
        return render_template("admin/login_code.html", form=form, error=None)
    lockout = Lockout(redis())
    lock = lockout.check(admin.email, client_address())
    if lock is not None:
        return render_template("admin/login_code.html", form=form, error=lock.message), 429
    if not form.validate_on_submit() or not accounts.check_totp(
        db_session(), admin, form.code.data
    ):
        lock = lockout.record_failure(admin.email, client_address())
        _audit("admin_login_failed", "anonymous", {"step": "totp"})
        error = lock.message if lock else "That code is not valid. Try the current one."
        return render_template("admin/login_code.html", form=form, error=error), 401
    lockout.record_success(admin.email)
    start_session(admin)
    _audit("admin_logged_in", admin.actor, {"second_factor": "totp"})
    return redirect(safe_next(next_url))


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    """End the session (POST with CSRF, so no link elsewhere can log an admin out)."""
    form = ActionForm()
    if form.validate_on_submit():
        _audit("admin_logged_out", current_admin().actor)
        end_session()
    return redirect(url_for("admin.login"))


@bp.route("/account/totp", methods=["GET", "POST"])
def totp_enrol() -> ResponseReturnValue:
    """Turn on two-factor login: show the secret and URI, then confirm with a code."""
    admin = current_admin()
    form = CodeForm()
    if admin.totp_enabled:
        return render_template("admin/totp.html", admin=admin, enrolment=None, form=ActionForm())
    enrolment = accounts.start_totp_enrolment(db_session(), admin)
    if request.method == "POST" and form.validate_on_submit():
        if accounts.confirm_totp_enrolment(db_session(), admin, form.code.data):
            _audit("admin_totp_enabled", admin.actor)
            flash("Two-factor login is on. You will be asked for a code at every login.")
            return redirect(url_for("admin.totp_enrol"))
        form.code.errors = ["That code is not valid. Try the current one."]
    status = 400 if request.method == "POST" else 200
    page = render_template("admin/totp.html", admin=admin, enrolment=enrolment, form=form)
    return page, status


@bp.route("/account/totp/off", methods=["POST"])
def totp_disable() -> ResponseReturnValue:
    """Turn two-factor login off for the logged-in admin."""
    admin = current_admin()
    if ActionForm().validate_on_submit():
        accounts.disable_totp(db_session(), admin)
        _audit("admin_totp_disabled", admin.actor)
        flash("Two-factor login is off.")
    return redirect(url_for("admin.totp_enrol"))
