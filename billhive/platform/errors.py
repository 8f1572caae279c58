"""Error pages: HTML for browsers, JSON for ``/api`` and ``/healthz``; never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from werkzeug.exceptions import HTTPException, InternalServerError

from billhive.db import is_unavailable
from billhive.logs import get_logger

log = get_logger(__name__)

#: Seconds a client is asked to wait while the database or Redis is unreachable (a
#: restart or failover takes seconds).
RETRY_AFTER_SECONDS = 5
UNAVAILABLE_MESSAGE = (
    "A backing service is unreachable for a moment (a restart or failover). Try again in a "
    "few seconds; a retried POST with the same Idempotency-Key never enqueues twice."
)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _render(
    status: int, title: str, message: str, headers: dict[str, str] | None = None
) -> ResponseReturnValue:
    extra = headers or {}
    if _wants_json():
        code = title.lower().replace(" ", "_")
        return jsonify({"error": {"code": code, "message": message}}), status, extra
    page = render_template("error.html", status=status, title=title, message=message)
    return page, status, extra


def register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error and every unexpected exception with a friendly page."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        return _render(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        if is_unavailable(exc) or isinstance(exc, RedisConnectionError | RedisTimeoutError):
            # Not a bug: the request is refused whole, and the client is told when to retry.
            log.warning("backing_service_unavailable", path=request.path, error=type(exc).__name__)
            retry = {"Retry-After": str(RETRY_AFTER_SECONDS)}
            return _render(503, "Service Unavailable", UNAVAILABLE_MESSAGE, retry)
        log.exception("unhandled_error", path=request.path)
        error = InternalServerError()
        return _render(500, error.name, "Something went wrong on our side. It was logged.")
