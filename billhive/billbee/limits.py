"""Billbee's throttle table as data: which limit buckets one call consumes.

Billbee publishes nested limits (FACTS.md "Throttling"): 50 calls/s per API key across all
merchants, 10 calls/s per key + Billbee user, 2 calls/s per endpoint for each key + user,
plus a few per-resource extras written into the operation descriptions of openapi.json.
The algorithm is not published; both users of this table (the workers' scheduler, which
must never trigger a 429, and the sandbox, which must catch every overrun) read each bucket
in its strictest form: never more than ``limit`` calls inside any sliding window of
``period`` seconds.

Bucket keys are built from opaque ids chosen by the caller (the scheduler passes a tenant id,
the sandbox an account id), never from a username or a key, so no secret ends up in Redis.

Pure data and pure functions: this module imports nothing outside the standard library and
billhive.billbee.operations, so the sandbox may use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from billhive.billbee.operations import OPERATIONS, Operation, get_operation

#: Calls per second for one API key, across every merchant using it.
KEY_LIMIT = 50
KEY_PERIOD = 1.0
#: Calls per second for one API key + Billbee user.
USER_LIMIT = 10
USER_PERIOD = 1.0
#: Calls per second for one endpoint (operation) of one API key + Billbee user.
ENDPOINT_LIMIT = 2
ENDPOINT_PERIOD = 1.0
#: GET /orders/{id}: "throttled to 6 calls per order in one minute".
ORDER_GET_LIMIT = 6
ORDER_GET_PERIOD = 60.0
#: POST /orders/CreateInvoice/{id}, /orders/CreateDeliveryNote/{id}: "by order and api key
#: to a maximum of 1 per 5 minutes" (each operation has its own bucket).
ORDER_DOCUMENT_LIMIT = 1
ORDER_DOCUMENT_PERIOD = 300.0
#: GET /events: "2 calls per page per hour".
EVENTS_PAGE_LIMIT = 2
EVENTS_PAGE_PERIOD = 3600.0
#: GET /orders/invoices: "1 per 1 minute for same page and minInvoiceDate".
INVOICES_PAGE_LIMIT = 1
INVOICES_PAGE_PERIOD = 60.0

#: Seconds to wait after a 429 that carries no Retry-After header (billbee-php-sdk #82).
#: Every general bucket has a one-second window, so after one second a sliding window has
#: shed every call that filled it; it is also what the official .NET SDK sleeps between its
#: 429 retries. The longer extras (minutes, an hour) cannot be guessed from a bare 429, and
#: the scheduler keeps those buckets itself, so it should not hit them in the first place.
DEFAULT_RETRY_AFTER_SECONDS = 1.0

#: Largest list one POST /products/updatestockmultiple call carries. Billbee publishes no
#: maximum; 100 is a conservative default (FACTS.md), made a setting by the callers.
UPDATE_STOCK_MULTIPLE_MAX_ITEMS = 100

#: The bulk operation stock updates are coalesced into.
STOCK_BATCH_OPERATION = "products.update_stock_multiple"

#: Most items one call of a bulk operation carries. Billbee publishes none of these caps;
#: the defaults are conservative (a bulk call is still one call against its endpoint's
#: 2/s, so a smaller batch costs throughput, never a refusal). The platform makes them a
#: setting (``BILLHIVE_BULK_MAX_ITEMS``, ``BILLHIVE_STOCK_BATCH_SIZE``) and the sandbox
#: enforces the same defaults. Labels are the slowest work Billbee does per item, hence the
#: smallest cap.
BULK_MAX_ITEMS: dict[str, int] = {
    "products.update_stock_multiple": UPDATE_STOCK_MULTIPLE_MAX_ITEMS,
    "products.stock_multiple": 100,
    "orders.create_multiple": 50,
    "orders.add_tags_multiple": 100,
    "shipments.create_multiple": 50,
    "shipments.ship_with_label_multiple": 20,
}
#: The bulk operation each single operation can travel inside: the workers coalesce queued
#: calls of the single operation into calls of its bulk form (billhive/workers/coalesce.py).
#: ``products.stock_multiple`` carries itself: reads of a few SKUs each become one read.
BULK_FORMS: dict[str, str] = {
    "products.update_stock": STOCK_BATCH_OPERATION,
    "products.stock_multiple": "products.stock_multiple",
    "orders.add_tags": "orders.add_tags_multiple",
    "orders.create": "orders.create_multiple",
    "shipments.create": "shipments.create_multiple",
}
#: The body member that holds the items of a bulk operation whose body is an object; the
#: others take a JSON array of items.
BULK_ITEMS_MEMBER: dict[str, str] = {
    "orders.add_tags_multiple": "OrderIds",
    "products.stock_multiple": "Skus",
}


def bulk_items(operation: str, body: Any) -> int | None:
    """How many items a body of the bulk ``operation`` carries; None for other operations
    or a body of the wrong shape (the shape is checked where the body is read)."""
    if operation not in BULK_MAX_ITEMS:
        return None
    member = BULK_ITEMS_MEMBER.get(operation)
    items = body.get(member) if member and isinstance(body, Mapping) else body
    return len(items) if isinstance(items, list) else None


#: Page Billbee assumes when a paged call names none.
DEFAULT_PAGE = 1


@dataclass(frozen=True)
class Bucket:
    """One limit a call counts against: at most ``limit`` calls per ``period`` seconds.

    ``name`` says which rule this is (``key``, ``user``, ``endpoint``, ``order_get`` ...);
    ``key`` identifies the bucket instance (the same key for two calls means they share it).
    """

    name: str
    key: str
    limit: int
    period: float


def _param(params: Mapping[str, Any], spec_name: str, snake_name: str) -> Any:
    """A parameter given under its spec name or its Python name, else None."""
    if spec_name in params:
        return params[spec_name]
    return params.get(snake_name)


def _as_text(value: Any) -> str:
    """A parameter value as the text it is sent as (dates in ISO format)."""
    if value is None:
        return ""
    isoformat = getattr(value, "isoformat", None)
    return str(isoformat()) if callable(isoformat) else str(value)


def _page(params: Mapping[str, Any]) -> Any:
    page = params.get("page")
    return DEFAULT_PAGE if page is None else page


def buckets_for(
    operation: str | Operation, params: Mapping[str, Any], *, key_id: str, user_id: str
) -> list[Bucket]:
    """Every bucket one call of ``operation`` with ``params`` consumes, most global first.

    ``params`` holds the call's path and query parameters by spec name (``id``,
    ``minInvoiceDate``) or by Python name (``min_invoice_date``). ``key_id`` and ``user_id``
    are opaque ids for the API key and the Billbee user (never the secrets themselves).
    Raises UnknownOperation for an unknown operation name.
    """
    op = get_operation(operation) if isinstance(operation, str) else operation
    user = f"{key_id}:{user_id}"
    buckets = [
        Bucket("key", f"key:{key_id}", KEY_LIMIT, KEY_PERIOD),
        Bucket("user", f"user:{user}", USER_LIMIT, USER_PERIOD),
        Bucket("endpoint", f"endpoint:{user}:{op.name}", ENDPOINT_LIMIT, ENDPOINT_PERIOD),
    ]
    extra = _extra_bucket(op, params, key_id=key_id, user=user)
    if extra is not None:
        buckets.append(extra)
    return buckets


def _extra_bucket(
    op: Operation, params: Mapping[str, Any], *, key_id: str, user: str
) -> Bucket | None:
    """The endpoint-specific bucket of ``op``, if Billbee documents one."""
    if op.name == "orders.get":
        order = params.get("id")
        return Bucket("order_get", f"order_get:{user}:{order}", ORDER_GET_LIMIT, ORDER_GET_PERIOD)
    if op.name in ("orders.create_invoice", "orders.create_delivery_note"):
        # Billbee words this one per order and API key (not per user); order ids are
        # global in Billbee, so two merchants never share such a bucket by accident.
        order = params.get("id")
        return Bucket(
            op.action,
            f"{op.action}:{key_id}:{order}",
            ORDER_DOCUMENT_LIMIT,
            ORDER_DOCUMENT_PERIOD,
        )
    if op.name == "events.list":
        page = _page(params)
        return Bucket(
            "events_page", f"events_page:{user}:{page}", EVENTS_PAGE_LIMIT, EVENTS_PAGE_PERIOD
        )
    if op.name == "orders.list_invoices":
        page = _page(params)
        since = _as_text(_param(params, "minInvoiceDate", "min_invoice_date"))
        return Bucket(
            "invoices_page",
            f"invoices_page:{user}:{page}:{since}",
            INVOICES_PAGE_LIMIT,
            INVOICES_PAGE_PERIOD,
        )
    return None


def operations_with_long_windows() -> frozenset[str]:
    """Operations with a bucket of their own beyond the key, user and endpoint rules (the
    per-order, per-page extras, whose windows run from a minute to an hour)."""
    return frozenset(
        op.name
        for op in OPERATIONS.values()
        if _extra_bucket(op, {}, key_id="k", user="k:u") is not None
    )


def longest_period() -> float:
    """The longest window of any bucket, so a store of call times knows what to keep."""
    return max(
        KEY_PERIOD,
        USER_PERIOD,
        ENDPOINT_PERIOD,
        ORDER_GET_PERIOD,
        ORDER_DOCUMENT_PERIOD,
        EVENTS_PAGE_PERIOD,
        INVOICES_PAGE_PERIOD,
    )
