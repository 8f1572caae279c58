"""Reading one HTTP exchange into a BillbeeResponse or the typed error it stands for.

Kept apart from the client so the mapping (status -> error class, Retry-After, transport
failure -> "may the request have reached Billbee?") can be read and tested on its own.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx

from billhive.billbee.envelope import BillbeeResponse, parse_envelope
from billhive.billbee.errors import (
    ApiError,
    BillbeeError,
    ConnectionDropped,
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    ProxyError,
    ServerError,
    Throttled,
    TransportError,
    UnexpectedResponse,
    error_name,
)
from billhive.billbee.limits import DEFAULT_RETRY_AFTER_SECONDS

REDACTED = "[redacted]"
#: Longest piece of Billbee's own error text carried into a message.
MAX_BILLBEE_MESSAGE = 300


class SecretScrubber:
    """Replaces the client's credentials inside any text taken from a response.

    Billbee's error messages could echo a username back; what we pass on must not.
    """

    __slots__ = ("_secrets",)

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is replaced whole.
        self._secrets = tuple(sorted({s for s in secrets if s}, key=len, reverse=True))

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def __repr__(self) -> str:
        return "SecretScrubber(...)"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date); None if unusable."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - (now or datetime.now(UTC))).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(seconds, 0.0)


def _decode(response: httpx.Response) -> tuple[bool, Any]:
    """(True, JSON body) when the body is JSON (None for an empty body), else (False, None)."""
    if not response.content:
        return True, None
    try:
        return True, response.json()
    except ValueError:
        return False, None


def _billbee_message(body: Any, scrub: SecretScrubber) -> str:
    """Billbee's own explanation from an error body (envelope or ASP.NET ``Message``)."""
    text = ""
    if isinstance(body, dict):
        for key in ("ErrorMessage", "Message", "message", "error"):
            value = body.get(key)
            if isinstance(value, str) and value.strip():
                text = value.strip()
                break
    return scrub(text[:MAX_BILLBEE_MESSAGE])


def error_for_response(
    response: httpx.Response, operation: str, scrub: SecretScrubber
) -> BillbeeResponse:
    """The parsed answer of a successful call; raises the typed error of any other answer."""
    status = response.status_code
    is_json, body = _decode(response)
    if 200 <= status < 300:
        if not is_json:
            raise UnexpectedResponse(
                f"{operation}: Billbee answered {status} with a body that is not JSON",
                status_code=status,
                operation=operation,
            )
        parsed = parse_envelope(body, status)
        if not parsed.ok:
            raise _api_error(parsed, operation, scrub)
        return parsed
    raise _http_error(response, body, operation, scrub, is_json=is_json)


def _api_error(parsed: BillbeeResponse, operation: str, scrub: SecretScrubber) -> ApiError:
    message = scrub(parsed.error_message[:MAX_BILLBEE_MESSAGE])
    text = f"{operation}: Billbee reported {error_name(parsed.error_code)}"
    return ApiError(
        f"{text}: {message}" if message else text,
        error_code=parsed.error_code,
        billbee_message=message,
        status_code=parsed.status_code,
        operation=operation,
    )


#: The statuses a proxy answers with its own page when Billbee's backend fails it.
PROXY_STATUSES = frozenset({502, 503, 504})


def _http_error(
    response: httpx.Response,
    body: Any,
    operation: str,
    scrub: SecretScrubber,
    *,
    is_json: bool = True,
) -> BillbeeError:
    status = response.status_code
    where = f"{operation}: HTTP {status}"
    if status in (401, 403):
        return CredentialsRejected(
            f"{where}: Billbee rejected the API key, username or API password",
            status_code=status,
            operation=operation,
        )
    if status == 404:
        return NotFound(f"{where}: not found", status_code=status, operation=operation)
    if status == 429:
        sent = parse_retry_after(response.headers.get("Retry-After"))
        wait = DEFAULT_RETRY_AFTER_SECONDS if sent is None else sent
        return Throttled(
            f"{where}: throttled by Billbee, retry after {wait:g} s",
            retry_after=wait,
            retry_after_was_sent=sent is not None,
            status_code=status,
            operation=operation,
        )
    message = _billbee_message(body, scrub)
    if 400 <= status < 500:
        return InvalidRequest(
            f"{where}: {message}" if message else f"{where}: Billbee refused the request",
            status_code=status,
            operation=operation,
            billbee_message=message,
        )
    if status in PROXY_STATUSES and not is_json:
        sent = parse_retry_after(response.headers.get("Retry-After"))
        return ProxyError(
            f"{where}: an error page from the proxy in front of Billbee, not Billbee's answer"
            + (f" (retry after {sent:g} s)" if sent is not None else ""),
            status_code=status,
            operation=operation,
            retry_after=sent,
        )
    if status >= 500:
        return ServerError(
            f"{where}: {message}" if message else f"{where}: Billbee server error",
            status_code=status,
            operation=operation,
        )
    return UnexpectedResponse(
        f"{where}: unexpected answer", status_code=status, operation=operation
    )


def transport_error(exc: httpx.TransportError, operation: str) -> TransportError:
    """The TransportError for an httpx failure, judging whether the request left the machine.

    Connecting failed (ConnectError, ConnectTimeout, no free pooled connection, proxy or
    scheme problems): nothing was sent. Anything later (a read or write timeout, a dropped
    connection, a protocol error) may have reached Billbee after the request was sent.
    """
    never_sent = isinstance(
        exc,
        httpx.ConnectError
        | httpx.ConnectTimeout
        | httpx.PoolTimeout
        | httpx.ProxyError
        | httpx.UnsupportedProtocol,
    )
    kind = type(exc).__name__
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError):
        return ConnectionDropped(
            f"{operation}: the connection to Billbee broke before its answer was complete ({kind})",
            operation=operation,
        )
    return TransportError(
        f"{operation}: no answer from Billbee ({kind})",
        may_have_reached_server=not never_sent,
        operation=operation,
    )
