"""One exception class per way a Billbee call can fail, and Billbee's named error codes.

Every error is a :class:`BillbeeError` carrying the HTTP status (None when no response
came back) and the operation name. Messages are built by the client from the operation,
the status and Billbee's own ``ErrorMessage``, with the caller's credentials scrubbed out,
so they are safe to log, store on a call record or show to an operator.
"""

from __future__ import annotations

from enum import IntEnum


class ErrorCode(IntEnum):
    """Billbee's ``ErrorCode`` values with the names of the official .NET SDK.

    The 2023 spec's enum runs to 28, the 2024 description's to 29 (:data:`MAX_ERROR_CODE`);
    names above 18 are not published (see :func:`error_name`).
    """

    NoError = 0
    ApiNotActivated = 1
    OrderNotFound = 2
    InvoiceNotCreated = 3
    CantCreateInvoice = 4
    OrderCanceled = 5
    OrderDeleted = 6
    OrderNotPaid = 7
    InternalError = 8
    OrderExists = 9
    WrongShopId = 10
    InvalidData = 11
    CreateUser_DuplicateEmail = 12
    CreateUser_InvalidEmail = 13
    CreateUser_UserRejected = 14
    CreateUser_TermsNotAccepted = 15
    NoPaidAccount = 16
    APIServiceNotBooked = 17
    CantCreateDeliveryNote = 18


#: The highest ErrorCode Billbee describes (the 2024 description's enum: 0-29).
MAX_ERROR_CODE = 29


def error_name(code: int) -> str:
    """The published name of an ErrorCode, or ``ErrorCode<n>`` for an unnamed one."""
    try:
        return ErrorCode(code).name
    except ValueError:
        return f"ErrorCode{code}"


class BillbeeError(Exception):
    """Base of every Billbee call failure; ``str()`` is a secret-free description."""

    def __init__(
        self, message: str, *, status_code: int | None = None, operation: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.operation = operation


class CredentialsRejected(BillbeeError):
    """401/403: Billbee refused the API key, the username or the API password."""


class NotFound(BillbeeError):
    """404: the addressed order, product, webhook ... does not exist (or the path is wrong)."""


class InvalidRequest(BillbeeError):
    """Any other 4xx: Billbee refused the request; ``billbee_message`` says why, if it did."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        operation: str | None = None,
        billbee_message: str = "",
    ) -> None:
        super().__init__(message, status_code=status_code, operation=operation)
        self.billbee_message = billbee_message


class Throttled(BillbeeError):
    """429: over one of Billbee's limits; wait ``retry_after`` seconds before the next call.

    ``retry_after_was_sent`` is False when Billbee sent no usable Retry-After header and
    ``retry_after`` is the documented fallback (limits.DEFAULT_RETRY_AFTER_SECONDS).
    """

    def __init__(
        self,
        message: str,
        *,
        retry_after: float,
        retry_after_was_sent: bool,
        status_code: int | None = 429,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, operation=operation)
        self.retry_after = retry_after
        self.retry_after_was_sent = retry_after_was_sent


class ServerError(BillbeeError):
    """5xx: Billbee failed; the request may or may not have taken effect."""

    #: Whether the request may have reached Billbee's application (it may have acted).
    may_have_reached_server: bool = True


class ProxyError(ServerError):
    """A 5xx page from the proxy in front of Billbee (HTML, not Billbee's JSON).

    502 and 504 come after the request was passed on (the backend failed or was slow to
    answer), so it may have taken effect; a 503 page is the proxy refusing to pass it on
    (the backend is down or in maintenance), so it did not. ``retry_after`` is the
    page's Retry-After in seconds, if it sent one.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        operation: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, operation=operation)
        self.retry_after = retry_after
        self.may_have_reached_server = status_code != 503


class UnexpectedResponse(BillbeeError):
    """A response the API never sends on purpose (a redirect, or a 2xx that is not JSON)."""


class TransportError(BillbeeError):
    """No HTTP response: a timeout or a connection failure.

    ``may_have_reached_server`` is False only when the request certainly never left (the
    connection could not be made), so a worker knows whether a non-idempotent write has an
    unknown outcome (True) or simply did not happen (False).
    """

    def __init__(
        self, message: str, *, may_have_reached_server: bool, operation: str | None = None
    ) -> None:
        super().__init__(message, status_code=None, operation=operation)
        self.may_have_reached_server = may_have_reached_server


class ConnectionDropped(TransportError):
    """The connection broke while the answer came in (reset or closed mid-body): the
    request reached Billbee, its outcome is unknown."""

    def __init__(self, message: str, *, operation: str | None = None) -> None:
        super().__init__(message, may_have_reached_server=True, operation=operation)


class ApiError(BillbeeError):
    """A 2xx whose envelope reports failure: a non-zero ``ErrorCode`` or an ErrorMessage."""

    def __init__(
        self,
        message: str,
        *,
        error_code: int,
        billbee_message: str = "",
        status_code: int | None = 200,
        operation: str | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, operation=operation)
        self.error_code = error_code
        self.error_name = error_name(error_code)
        self.billbee_message = billbee_message


class InvalidCall(ValueError):
    """The caller named an unknown parameter, left out a required one, or gave a bad value.

    Raised before anything is sent; a ValueError because it is a bug or bad input on our
    side, not a Billbee failure. ``param`` names the spec parameter at fault, when one is.
    """

    def __init__(self, message: str, *, param: str | None = None) -> None:
        super().__init__(message)
        self.param = param
