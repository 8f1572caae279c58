"""``/healthz``: is the database reachable, is Redis reachable."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import text

from billhive.platform import extensions

bp = Blueprint("health", __name__)


def _check(probe: Any) -> dict[str, Any]:
    try:
        probe()
    except Exception as exc:  # noqa: BLE001 - any failure is "down"; the type says why
        return {"ok": False, "error": type(exc).__name__}
    return {"ok": True}


@bp.get("/healthz")
def healthz() -> ResponseReturnValue:
    """200 when the database and Redis answer, 503 naming the part that does not."""
    checks = {
        "database": _check(lambda: extensions.db_session().execute(text("SELECT 1"))),
        "redis": _check(lambda: extensions.redis().ping()),
    }
    healthy = all(c["ok"] for c in checks.values())
    body = {"status": "ok" if healthy else "unavailable", "checks": checks}
    return jsonify(body), 200 if healthy else 503
