"""Error pages: HTML for browsers, JSON for ``/api`` and ``/healthz``; never a stack trace."""

from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException, InternalServerError

from billhive.logs import get_logger

log = get_logger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _render(status: int, title: str, message: str) -> ResponseReturnValue:
    if _wants_json():
        code = title.lower().replace(" ", "_")
        return jsonify({"error": {"code": code, "message": message}}), status
    return render_template("error.html", status=status, title=title, message=message), status


def register_error_handlers(app: Flask) -> None:
    """Answer every HTTP error and every unexpected exception with a friendly page."""

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        return _render(exc.code or 500, exc.name, exc.description or exc.name)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception) -> ResponseReturnValue:
        log.exception("unhandled_error", path=request.path)
        error = InternalServerError()
        return _render(500, error.name, "Something went wrong on our side. It was logged.")
