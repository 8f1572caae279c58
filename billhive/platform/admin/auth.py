"""Who may use the dashboard: Flask-Login for admins only, and the blueprint's gate.

Only an authenticated :class:`AdminUser` passes. The session's user id reads
``admin:<id>:<epoch>``: the prefix means nothing else that might one day log someone in
(merchants have no session today) can be mistaken for an admin, and the epoch must match
the admin's ``session_epoch`` in the database, so logout, a password reset and TOTP changes
(which raise it) end every session of that admin, a copied cookie included.

A session ends after ``BILLHIVE_ADMIN_IDLE_MINUTES`` without a page view (the dashboard's
polling of ``/admin/live/`` does not count) and ``BILLHIVE_ADMIN_SESSION_HOURS`` after the
login, however active the admin is.
"""

from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import Flask, abort, redirect, request, session, url_for
from flask.typing import ResponseReturnValue
from flask_login import (  # type: ignore[import-untyped]
    LoginManager,
    current_user,
    login_user,
    logout_user,
)

from billhive.db import utcnow
from billhive.platform.admin.accounts import end_all_sessions
from billhive.platform.admin.models import SESSION_ID_PREFIX, AdminUser
from billhive.platform.extensions import db_session, settings

#: How long the second step of a login (the TOTP code) may take.
SECOND_STEP_SECONDS = 5 * 60
#: Endpoints of the admin blueprint open to visitors without a session.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.login_code", "admin.static"})
#: Path prefix of the JSON the dashboard polls: it does not count as the admin being active.
LIVE_PREFIX = "/admin/live/"

_SEEN_KEY = "admin_seen"
_STARTED_KEY = "admin_started"
_PENDING_KEY = "admin_pending"


def init_login(app: Flask) -> None:
    """Attach Flask-Login, loading only admins."""
    manager = LoginManager()
    manager.session_protection = "strong"
    manager.login_view = "admin.login"
    manager.user_loader(load_admin)
    manager.init_app(app)


def load_admin(user_id: str) -> AdminUser | None:
    """Flask-Login's loader: the active admin of an ``admin:<id>:<epoch>`` session id whose
    epoch is the admin's current one, else None."""
    if not user_id.startswith(SESSION_ID_PREFIX):
        return None
    raw_id, _, raw_epoch = user_id.removeprefix(SESSION_ID_PREFIX).partition(":")
    if not (raw_id.isdigit() and raw_epoch.isdigit()) or len(raw_id) > 18:
        return None
    admin = db_session().get(AdminUser, int(raw_id))
    if admin is None or not admin.active or admin.session_epoch != int(raw_epoch):
        return None
    return admin


def current_admin() -> AdminUser:
    """The logged-in admin (only called behind :func:`require_admin`)."""
    admin = current_user._get_current_object()
    if not isinstance(admin, AdminUser):
        abort(401)
    return admin


def _is_admin() -> bool:
    user = current_user._get_current_object()
    return isinstance(user, AdminUser) and bool(user.is_authenticated)


def _in_time(now: float) -> bool:
    """True while the session is within both its idle and its absolute lifetime."""
    seen, started = session.get(_SEEN_KEY), session.get(_STARTED_KEY)
    if not isinstance(seen, int | float) or not isinstance(started, int | float):
        return False
    config = settings()
    return (
        now - seen < config.admin_idle_minutes * 60
        and now - started < config.admin_session_hours * 3600
    )


def require_admin() -> ResponseReturnValue | None:
    """The blueprint's ``before_request``: refuse everyone who is not a logged-in admin."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    now = time.time()
    polling = request.path.startswith(LIVE_PREFIX)
    if _is_admin() and _in_time(now):
        if not polling:  # polling keeps no session alive
            session[_SEEN_KEY] = int(now)
        return None
    if _is_admin():
        logout_user()
    if request.method in ("GET", "HEAD") and not polling:
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    abort(401)


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path inside the dashboard, else the overview."""
    if target and not any(ord(c) < 0x20 or ord(c) == 0x7F or c == "\\" for c in target):
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/admin"):
            return target
    return url_for("admin.overview")


def start_session(admin: AdminUser) -> None:
    """Log ``admin`` in on a fresh session (no fixation: old session data is dropped)."""
    session.clear()
    login_user(admin)
    now = int(time.time())
    session[_SEEN_KEY] = now
    session[_STARTED_KEY] = now
    admin.last_login_at = utcnow()
    db_session().commit()


def reissue_session(admin: AdminUser) -> None:
    """Keep this session after ``admin``'s epoch was raised (a TOTP change made here):
    its id is issued again in the new epoch; login time and idle clock stay as they are."""
    login_user(admin)


def end_session(admin: AdminUser) -> None:
    """Log out: end every session of ``admin`` and drop everything this one held."""
    end_all_sessions(db_session(), admin)
    logout_user()
    session.clear()


def remember_second_step(admin: AdminUser, next_url: str) -> None:
    """Password accepted, TOTP code pending: remember who, where to, until when."""
    session.clear()
    session[_PENDING_KEY] = {
        "id": admin.id,
        "epoch": admin.session_epoch,
        "at": int(time.time()),
        "next": next_url,
    }


def pending_second_step() -> tuple[AdminUser, str] | None:
    """The admin whose TOTP code is awaited (and the page to go to), if still in time and
    no password reset or TOTP change came in between."""
    pending = session.get(_PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > SECOND_STEP_SECONDS:
        return None
    admin_id = pending.get("id")
    admin = db_session().get(AdminUser, admin_id) if isinstance(admin_id, int) else None
    if admin is None or not admin.active or not admin.totp_enabled:
        return None
    if pending.get("epoch") != admin.session_epoch:
        return None
    return admin, str(pending.get("next") or "")


def client_address() -> str:
    """The client's address as the web server saw it (a proxy must set REMOTE_ADDR)."""
    return request.remote_addr or "unknown"
