"""Login (password, then the TOTP code when enabled), logout and TOTP enrolment."""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from billhive.platform.admin import accounts, totp
from billhive.platform.admin.auth import (
    client_address,
    current_admin,
    end_session,
    pending_second_step,
    reissue_session,
    remember_second_step,
    safe_next,
    start_session,
)
from billhive.platform.admin.blueprint import bp
from billhive.platform.admin.forms import ActionForm, CodeForm, ConfirmForm, LoginForm
from billhive.platform.admin.lockout import Lock, Lockout
from billhive.platform.admin.models import AdminUser
from billhive.platform.extensions import db_session, redis, vault
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
    if not form.validate_on_submit() or not totp.check_totp(
        db_session(), vault(), admin, form.code.data
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
    """End every session of the admin (POST with CSRF, so no link elsewhere can log an
    admin out); a copy of the session cookie taken earlier stops working too."""
    form = ActionForm()
    if form.validate_on_submit():
        admin = current_admin()
        _audit("admin_logged_out", admin.actor)
        end_session(admin)
    return redirect(url_for("admin.login"))


@bp.route("/account/totp", methods=["GET", "POST"])
def totp_enrol() -> ResponseReturnValue:
    """Turn on two-factor login: show the secret and URI, then confirm with a code."""
    admin = current_admin()
    form = CodeForm()
    if admin.totp_enabled:
        return render_template("admin/totp.html", admin=admin, enrolment=None, form=ConfirmForm())
    enrolment = totp.start_totp_enrolment(db_session(), vault(), admin)
    if request.method == "POST" and form.validate_on_submit():
        if totp.confirm_totp_enrolment(db_session(), vault(), admin, form.code.data):
            reissue_session(admin)  # every other session of this admin has ended
            _audit("admin_totp_enabled", admin.actor)
            flash("Two-factor login is on. You will be asked for a code at every login.")
            return redirect(url_for("admin.totp_enrol"))
        form.code.errors = ["That code is not valid. Try the current one."]
    status = 400 if request.method == "POST" else 200
    page = render_template("admin/totp.html", admin=admin, enrolment=enrolment, form=form)
    return page, status


def _proves_identity(admin: AdminUser, given: str) -> bool:
    """True when ``given`` is a current TOTP code of the admin or the admin's password."""
    code = given.replace(" ", "")
    if (
        code.isdigit()
        and 6 <= len(code) <= 8
        and totp.check_totp(db_session(), vault(), admin, code)
    ):
        return True
    return accounts.check_password(db_session(), admin.email, given) is not None


@bp.route("/account/totp/off", methods=["POST"])
def totp_disable() -> ResponseReturnValue:
    """Turn two-factor login off for the logged-in admin, who confirms it with the password
    or a current code (a session left open somewhere cannot do it alone). Wrong answers
    count towards the account's lockout; a lock ends every session of the admin."""
    admin = current_admin()
    form = ConfirmForm()
    if not form.validate_on_submit():
        flash("Not turned off: enter your password or a current code.", "error")
        return redirect(url_for("admin.totp_enrol"))
    lockout = Lockout(redis())
    lock = lockout.check(admin.email, client_address())
    if lock is None and _proves_identity(admin, form.confirmation.data):
        totp.disable_totp(db_session(), admin)
        reissue_session(admin)
        _audit("admin_totp_disabled", admin.actor)
        flash("Two-factor login is off.")
        return redirect(url_for("admin.totp_enrol"))
    if lock is None:
        lock = lockout.record_failure(admin.email, client_address())
        _audit("admin_totp_disable_refused", admin.actor, {"locked": lock.scope if lock else ""})
    if lock is not None:
        end_session(admin)
        flash(lock.message, "error")
        return redirect(url_for("admin.login"))
    flash("Not turned off: that is neither your password nor a current code.", "error")
    return redirect(url_for("admin.totp_enrol"))
