"""The Billbee API client: one instance per (API key, username, API password).

Every Billbee call of the platform goes through :meth:`BillbeeClient.call`, named by the
operation catalog (``orders.list``); ``client.orders.list(page=1)`` is the same call spelled
as attributes. Answers come back as :class:`BillbeeResponse`; every failure is one of the
typed errors of :mod:`billhive.billbee.errors`. The client never waits or retries on its
own: throttling and retries are the scheduler's job, which sees every merchant at once.
"""

from __future__ import annotations

import json
import logging
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import httpx

from billhive import __version__
from billhive.billbee.envelope import BillbeeResponse
from billhive.billbee.errors import BillbeeError, InvalidCall
from billhive.billbee.limits import BULK_MAX_ITEMS, bulk_items
from billhive.billbee.operations import RESOURCES, Operation, get_operation
from billhive.billbee.outcomes import SecretScrubber, error_for_response, transport_error
from billhive.billbee.request import prepare

log = logging.getLogger(__name__)

#: Largest page Billbee serves (``pageSize`` 1..250).
MAX_PAGE_SIZE = 250
DEFAULT_USER_AGENT = f"billhive/{__version__}"


class DeprecatedOperationWarning(FutureWarning):
    """A call uses an operation or parameter Billbee deprecated (the message says what to
    use instead). A FutureWarning, so Python shows it by default, once per call site."""


def warn_if_deprecated(op: Operation, params: Mapping[str, Any]) -> None:
    """Warn about a deprecated operation, or a deprecated parameter given in ``params``
    (spec names)."""
    if op.deprecated:
        warnings.warn(
            f"Billbee deprecated {op.name} ({op.method} {op.path}): {op.deprecated}",
            DeprecatedOperationWarning,
            stacklevel=3,
        )
    for query in op.query_params:
        if query.deprecated and query.name in params:
            warnings.warn(
                f"Billbee deprecated the parameter {query.name!r} of {op.name}: {query.deprecated}",
                DeprecatedOperationWarning,
                stacklevel=3,
            )


def _json_default(value: Any) -> Any:
    """JSON for the few non-JSON types a caller may reasonably put into a body."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"a Billbee request body cannot hold a {type(value).__name__}")


class BillbeeClient:
    """A pooled HTTP client scoped to one merchant's credentials under one API key.

    ``base_url`` is the API root including ``/api/v1`` (``https://api.billbee.io/api/v1``,
    or the sandbox's). TLS certificates are always verified. Use it as a context manager
    or call :meth:`close`. Its repr and every error it raises are free of the credentials.
    ``before_send`` runs right before each request goes out, after it is built (the
    workers record the send time in their rate-limit windows there). ``max_items`` caps
    the items of a bulk operation's body (default :data:`limits.BULK_MAX_ITEMS`; Billbee
    publishes no caps); a longer body raises InvalidCall before sending. A deprecated
    operation or parameter raises a :class:`DeprecatedOperationWarning`.
    """

    def __init__(
        self,
        api_key: str,
        username: str,
        password: str,
        *,
        base_url: str,
        timeout: float = 30.0,
        transport: httpx.BaseTransport | None = None,
        user_agent: str | None = None,
        before_send: Callable[[], None] | None = None,
        max_items: Mapping[str, int] | None = None,
    ) -> None:
        for label, value in (("API key", api_key), ("username", username), ("password", password)):
            if not value:
                raise ValueError(f"BillbeeClient needs a non-empty {label}")
        if not base_url.startswith(("https://", "http://")):
            raise ValueError("BillbeeClient needs an http(s) base_url")
        self.base_url = base_url.rstrip("/")
        self._max_items = {**BULK_MAX_ITEMS, **(max_items or {})}
        self._scrub = SecretScrubber((api_key, username, password))
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            auth=httpx.BasicAuth(username, password),
            headers={
                "X-Billbee-Api-Key": api_key,
                "Accept": "application/json",
                "User-Agent": user_agent or DEFAULT_USER_AGENT,
            },
            timeout=httpx.Timeout(timeout),
            transport=transport,
            verify=True,
            follow_redirects=False,
            event_hooks={"request": [lambda _request: before_send()]} if before_send else None,
        )

    def __repr__(self) -> str:
        return f"BillbeeClient(base_url={self.base_url!r})"

    def __enter__(self) -> BillbeeClient:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the pooled connections."""
        self._http.close()

    def __getattr__(self, name: str) -> Resource:
        # Only called for attributes not found normally: resource namespaces.
        if name in RESOURCES:
            return Resource(self, name)
        raise AttributeError(f"BillbeeClient has no attribute or Billbee resource {name!r}")

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *RESOURCES})

    # -- calls --------------------------------------------------------------------------

    def call(
        self,
        operation: str | Operation,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> BillbeeResponse:
        """Make one call of ``operation`` and return Billbee's parsed answer.

        ``params`` holds path and query parameters by spec or Python name. Raises
        InvalidCall (before sending) for bad parameters, else a BillbeeError subclass for
        every answer that is not a success.
        """
        op = get_operation(operation) if isinstance(operation, str) else operation
        prepared = prepare(op, params)
        if body is not None and not op.has_body:
            raise InvalidCall(f"{op.name} takes no request body")
        items = bulk_items(op.name, body)
        if items is not None and items > self._max_items[op.name]:
            raise InvalidCall(
                f"{op.name} carries at most {self._max_items[op.name]} items per call, not {items}"
            )
        if op.deprecated or prepared.deprecated_params:
            warn_if_deprecated(op, dict.fromkeys(prepared.deprecated_params))
        content: bytes | None = None
        headers: dict[str, str] | None = None
        if body is not None:
            content = json.dumps(body, default=_json_default).encode()
            headers = {"Content-Type": "application/json"}
        started = time.perf_counter()
        try:
            response = self._http.request(
                prepared.method,
                prepared.path.lstrip("/"),
                params=prepared.query,
                content=content,
                headers=headers,
            )
        except httpx.TransportError as exc:
            raise transport_error(exc, op.name) from None
        if log.isEnabledFor(logging.DEBUG):
            log.debug(
                "billbee call %s -> %s in %.1f ms",
                op.name,
                response.status_code,
                (time.perf_counter() - started) * 1000,
            )
        return error_for_response(response, op.name, self._scrub)

    def verify_credentials(self) -> None:
        """Prove the API key, username and API password with the cheapest read Billbee has.

        One ``orders.list`` of one row: it needs valid credentials *and* API access switched
        on (else ErrorCode ApiNotActivated), and is implemented by every Billbee backend and
        the sandbox. Returns None on success, raises the typed error otherwise.
        """
        self.call("orders.list", {"page": 1, "pageSize": 1})

    def iter_pages(
        self,
        operation: str | Operation,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[BillbeeResponse]:
        """Every page of a paged list, from ``params['page']`` (default 1) to the last.

        Stops when Billbee reports no further page (or sends no Paging, or an empty page).
        """
        if not 1 <= page_size <= MAX_PAGE_SIZE:
            raise InvalidCall(f"page_size must be 1..{MAX_PAGE_SIZE}, not {page_size}")
        op = get_operation(operation) if isinstance(operation, str) else operation
        query = dict(params or {})
        for size_name in ("page_size", "pageSize"):
            query.pop(size_name, None)
        page = int(query.pop("page", 1) or 1)
        while True:
            response = self.call(op, {**query, "page": page, "pageSize": page_size})
            yield response
            if response.paging is None or not response.paging.has_next or not response.data:
                return
            page += 1

    def iter_items(
        self,
        operation: str | Operation,
        params: Mapping[str, Any] | None = None,
        page_size: int = MAX_PAGE_SIZE,
    ) -> Iterator[Any]:
        """Every item of every page of a paged list (each page's ``Data`` flattened)."""
        for response in self.iter_pages(operation, params, page_size):
            yield from response.data or ()


class Resource:
    """``client.orders``: attribute access to the operations of one resource."""

    __slots__ = ("_client", "_resource")

    def __init__(self, client: BillbeeClient, resource: str) -> None:
        self._client = client
        self._resource = resource

    def __getattr__(self, action: str) -> BoundOperation:
        name = f"{self._resource}.{action}"
        try:
            return BoundOperation(self._client, get_operation(name))
        except KeyError:
            raise AttributeError(f"Billbee has no operation {name!r}") from None

    def __repr__(self) -> str:
        return f"<Billbee resource {self._resource}>"


class BoundOperation:
    """``client.orders.list``: call it with an optional body and keyword parameters."""

    __slots__ = ("_client", "operation")

    def __init__(self, client: BillbeeClient, operation: Operation) -> None:
        self._client = client
        self.operation = operation

    def __call__(self, body: Any = None, /, **params: Any) -> BillbeeResponse:
        """Call the operation: ``client.orders.update_state({"NewStateId": 3}, id=7)``."""
        return self._client.call(self.operation, params, body)

    def __repr__(self) -> str:
        return f"<Billbee operation {self.operation.name}>"


__all__ = [
    "MAX_PAGE_SIZE",
    "BillbeeClient",
    "BillbeeError",
    "BoundOperation",
    "DeprecatedOperationWarning",
    "Resource",
]
