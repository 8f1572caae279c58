"""Who may use the dashboard: Flask-Login for admins only, and the blueprint's gate.

Only an authenticated :class:`AdminUser` passes. The session's user id carries the
``admin:`` prefix, so nothing else that might one day log someone in (merchants have no
session today) can be mistaken for an admin. Sessions end after a period of inactivity.
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
from billhive.platform.admin.models import SESSION_ID_PREFIX, AdminUser
from billhive.platform.extensions import db_session

#: An admin session unused for this long is over.
IDLE_TIMEOUT_SECONDS = 8 * 3600
#: How long the second step of a login (the TOTP code) may take.
SECOND_STEP_SECONDS = 5 * 60
#: Endpoints of the admin blueprint open to visitors without a session.
PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.login_code", "admin.static"})

_SEEN_KEY = "admin_seen"
_PENDING_KEY = "admin_pending"


def init_login(app: Flask) -> None:
    """Attach Flask-Login, loading only admins."""
    manager = LoginManager()
    manager.session_protection = "strong"
    manager.login_view = "admin.login"
    manager.user_loader(load_admin)
    manager.init_app(app)


def load_admin(user_id: str) -> AdminUser | None:
    """Flask-Login's loader: an active admin for an ``admin:<id>`` session id, else None."""
    if not user_id.startswith(SESSION_ID_PREFIX):
        return None
    raw = user_id.removeprefix(SESSION_ID_PREFIX)
    if not raw.isdigit():
        return None
    admin = db_session().get(AdminUser, int(raw))
    return admin if admin is not None and admin.active else None


def current_admin() -> AdminUser:
    """The logged-in admin (only called behind :func:`require_admin`)."""
    admin = current_user._get_current_object()
    if not isinstance(admin, AdminUser):
        abort(401)
    return admin


def _is_admin() -> bool:
    user = current_user._get_current_object()
    return isinstance(user, AdminUser) and bool(user.is_authenticated)


def require_admin() -> ResponseReturnValue | None:
    """The blueprint's ``before_request``: refuse everyone who is not a logged-in admin."""
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    seen = session.get(_SEEN_KEY)
    if _is_admin() and isinstance(seen, int | float) and time.time() - seen < IDLE_TIMEOUT_SECONDS:
        session[_SEEN_KEY] = int(time.time())
        return None
    if _is_admin():
        logout_user()
    if request.method in ("GET", "HEAD") and not request.path.startswith("/admin/live/"):
        return redirect(url_for("admin.login", next=request.full_path.rstrip("?")))
    abort(401)


def safe_next(target: str | None) -> str:
    """Where to go after login: only a path inside the dashboard, else the overview."""
    if target:
        parts = urlsplit(target)
        if not parts.scheme and not parts.netloc and parts.path.startswith("/admin"):
            return target
    return url_for("admin.overview")


def start_session(admin: AdminUser) -> None:
    """Log ``admin`` in on a fresh session (no fixation: old session data is dropped)."""
    session.clear()
    login_user(admin)
    session[_SEEN_KEY] = int(time.time())
    admin.last_login_at = utcnow()
    db_session().commit()


def end_session() -> None:
    """Log out and drop everything the session held."""
    logout_user()
    session.clear()


def remember_second_step(admin: AdminUser, next_url: str) -> None:
    """Password accepted, TOTP code pending: remember who, where to, until when."""
    session.clear()
    session[_PENDING_KEY] = {"id": admin.id, "at": int(time.time()), "next": next_url}


def pending_second_step() -> tuple[AdminUser, str] | None:
    """The admin whose TOTP code is awaited (and the page to go to), if still in time."""
    pending = session.get(_PENDING_KEY)
    if not isinstance(pending, dict) or time.time() - pending.get("at", 0) > SECOND_STEP_SECONDS:
        return None
    admin = db_session().get(AdminUser, pending.get("id"))
    if admin is None or not admin.active or not admin.totp_enabled:
        return None
    return admin, str(pending.get("next") or "")


def client_address() -> str:
    """The client's address as the web server saw it (a proxy must set REMOTE_ADDR)."""
    return request.remote_addr or "unknown"
