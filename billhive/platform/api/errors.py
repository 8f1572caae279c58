"""API errors: JSON ``{"error": {"code", "message", "field"}}`` with a stable code.

Views raise :class:`ApiError`; the blueprint's handlers turn it, and every HTTP error
werkzeug raises inside the API, into that shape. Codes are part of the
contract (listed in the OpenAPI document); messages may be reworded.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

#: Stable codes for werkzeug's HTTP errors raised inside the API.
HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "rate_limited",
}

#: Every code an API response may carry, with its HTTP status (documented in openapi.json).
ERROR_CODES: dict[str, int] = {
    **{code: status for status, code in HTTP_CODES.items()},
    "invalid_json": 400,
    "invalid_header": 400,
    "invalid_query": 400,
    "missing_token": 401,
    "invalid_token": 401,
    "read_only_token": 403,
    "tenant_not_found": 404,
    "call_not_found": 404,
    "callback_not_registered": 404,
    "idempotency_key_reused": 409,
    "call_not_cancellable": 409,
    "tenant_cannot_reconnect": 409,
    "tenant_deleted": 409,
    "tenant_not_accepting_calls": 409,
    "invoice_creation_not_allowed": 422,
    "call_budget_exhausted": 429,
    "internal_error": 500,
}


class ApiError(Exception):
    """An answer other than success: HTTP status, stable code, message, offending field."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        if code not in ERROR_CODES:
            raise ValueError(f"undocumented API error code {code!r}")
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        """The JSON body of the answer."""
        return {"error": {"code": self.code, "message": self.message, "field": self.field}}


def error_response(error: ApiError) -> ResponseReturnValue:
    """The Flask response for ``error``."""
    response = jsonify(error.body())
    response.status_code = error.status
    response.headers.update(error.headers)
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="billhive"'
    return response


def from_http_exception(exc: HTTPException) -> ApiError:
    """The API error for a werkzeug HTTP error (404 of a route, 405, 413, 429 ...)."""
    status = exc.code or 500
    code = HTTP_CODES.get(status, "internal_error" if status >= 500 else "bad_request")
    return ApiError(status, code, exc.description or exc.name)


def register_error_handlers(bp: Blueprint) -> None:
    """Answer every error raised inside the API blueprint as JSON."""

    @bp.errorhandler(ApiError)
    def _api_error(exc: ApiError) -> ResponseReturnValue:
        return error_response(exc)

    @bp.errorhandler(HTTPException)
    def _http_error(exc: HTTPException) -> ResponseReturnValue:
        return error_response(from_http_exception(exc))
