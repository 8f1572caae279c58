"""Request and response bodies of the API as pydantic models.

The same models validate requests, shape responses and (through their JSON schemas)
fill the ``components.schemas`` of the OpenAPI document, so the three cannot drift apart.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StringConstraints, field_validator

from billhive.billbee.operations import DEPRECATED, OPERATIONS
from billhive.delivery.payloads import CallError, CallOut
from billhive.delivery.subscriptions import EVENT_TYPES
from billhive.tokens.models import CALLBACK_URL_MAX

__all__ = ["CallError", "CallOut"]  # defined with the callbacks that carry them

#: The catalog's operation names, listed as the ``enum`` of ``operation`` in the document.
OPERATION_NAMES: list[JsonValue] = [*sorted(OPERATIONS)]
#: Deprecated operations, listed in the document as ``x-deprecated`` of ``operation``.
DEPRECATED_OPERATIONS: dict[str, JsonValue] = {
    name: note for name, note in sorted(DEPRECATED.items())
}
#: An http(s) URL with a host and no ``user:password@`` part, no spaces or control characters.
CALLBACK_URL_PATTERN = r"^https?://[^\s/?#@\x00-\x1f\x7f]+(?:[/?#][^\s\x00-\x1f\x7f]*)?$"
#: Items one stock request may carry.
STOCK_ITEMS_MAX = 500
#: Calls one batch request may queue.
BATCH_CALLS_MAX = 100

#: An event type a callback may subscribe to.
EventName = Literal[
    "call.finished", "order.created", "order.changed", "shipment.created", "stock.changed"
]

#: A resource a change feed follows (billhive.feeds.models.Resource).
FeedResource = Literal["orders", "shipments", "stock"]

#: A string without control characters (PostgreSQL rejects NUL in text columns).
Text = Annotated[str, StringConstraints(pattern=r"^[^\x00-\x1f\x7f]*$")]


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class _Response(BaseModel):
    # Every response field is always present, so the document marks them all required.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


# -- requests --------------------------------------------------------------------------


class EnqueueCallRequest(_Request):
    """Run one named Billbee operation for the tenant."""

    operation: Annotated[Text, StringConstraints(min_length=1, max_length=64)] = Field(
        description="Operation name from the catalog, e.g. `orders.get`, `products.update_stock`. "
        "Billbee deprecated "
        + ", ".join(f"`{name}`" for name in DEPRECATED_OPERATIONS)
        + " (still queued; `x-deprecated` says what to use instead).",
        json_schema_extra={"enum": OPERATION_NAMES, "x-deprecated": DEPRECATED_OPERATIONS},
    )
    params: dict[str, Any] = Field(
        default_factory=dict,
        description="Path and query parameters by their Billbee (`pageSize`) or "
        "snake_case (`page_size`) names.",
    )
    body: Any = Field(None, description="JSON request body for operations that take one.")
    priority: Literal["interactive", "bulk", "background"] | None = Field(
        None,
        description="The call's lane: `interactive` starts before the tenant's queued bulk "
        "work whenever the order allows; `bulk` (default for batches of more than 10 calls "
        "and for stock) and `background` share what is left. Default: `interactive`.",
    )
    ordering_key: Annotated[Text, StringConstraints(min_length=1, max_length=200)] | None = Field(
        None,
        description="Narrows what the call is ordered with: a write starts after the "
        "earlier writes of this key (and of the whole tenant) finished, a read after the "
        "earlier writes of this key and of the whole tenant; e.g. `order:123`. Without "
        "one, a write waits for every earlier write of the tenant and a read too.",
    )


class EnqueueBatchRequest(_Request):
    """Several operations for the tenant, queued in this order, all or none."""

    calls: list[EnqueueCallRequest] = Field(min_length=1, max_length=BATCH_CALLS_MAX)


class StockItemIn(_Request):
    """One absolute stock level to set."""

    sku: Annotated[Text, StringConstraints(min_length=1, max_length=200)]
    quantity: float = Field(allow_inf_nan=False, ge=-1e12, le=1e12)
    stock_id: int | None = Field(None, ge=1, le=2**63 - 1)
    reason: Annotated[Text, StringConstraints(max_length=500)] | None = None


class StockRequest(_Request):
    """Stock levels to set; each item becomes its own call."""

    items: list[StockItemIn] = Field(min_length=1, max_length=STOCK_ITEMS_MAX)
    priority: Literal["interactive", "bulk", "background"] | None = Field(
        None, description="The calls' lane (default `bulk`)."
    )


class CallbackRequest(_Request):
    """Where this token's events are POSTed: finished calls it enqueued, feed events."""

    url: Annotated[
        str,
        StringConstraints(pattern=CALLBACK_URL_PATTERN, max_length=CALLBACK_URL_MAX),
    ] = Field(description="An http(s) URL without user:password (deliveries are signed instead).")
    events: list[EventName] | None = Field(
        None,
        max_length=len(EVENT_TYPES),
        description="The event types to deliver (default: `call.finished` only).",
    )
    tenant_ids: list[Annotated[int, Field(ge=1, le=2**31 - 1)]] | None = Field(
        None,
        max_length=10_000,
        description="The tenants whose feed events to deliver (default: every tenant the "
        "token reaches).",
    )

    @field_validator("url")
    @classmethod
    def _parseable(cls, value: str) -> str:
        # The pattern cannot see a broken IPv6 literal or port; the parser that sends does.
        try:
            parts = urlsplit(value)
            _ = parts.port
        except ValueError as exc:
            raise ValueError(f"not a URL billhive can call: {exc}") from None
        if not parts.hostname:
            raise ValueError("the URL needs a host")
        return value


class BudgetRequest(_Request):
    """A tenant's monthly call budget (null removes it)."""

    monthly_call_budget: int | None = Field(
        ge=1, le=1_000_000_000, description="Billbee calls a month; null: no budget."
    )
    hard: bool = Field(
        False, description="True: refuse new calls (429) once used up; false: only warn."
    )
    reason: Annotated[Text, StringConstraints(max_length=500)] = Field(
        "", description="Why (for the audit log)."
    )


class FeedsRequest(_Request):
    """Change feeds of a tenant to switch on and off (others stay as they are)."""

    on: list[FeedResource] = Field(
        default_factory=list,
        max_length=3,
        description="Resources whose feeds to switch on (a feed switched on again goes on "
        "from where it stopped, so changes made while it was off are told).",
    )
    off: list[FeedResource] = Field(
        default_factory=list, max_length=3, description="Resources whose feeds to switch off."
    )


# -- responses -------------------------------------------------------------------------


class FeedOut(_Response):
    """One change feed of a tenant."""

    resource: str = Field(description="`orders`, `shipments` or `stock`.")
    enabled: bool
    started_at: datetime = Field(description="When the feed was first switched on.")
    last_polled_at: datetime | None = Field(description="When it last read Billbee.")
    last_change_at: datetime | None = Field(description="When it last made an event.")
    next_poll_at: datetime = Field(description="When it reads Billbee next (at the latest).")


class TenantOut(_Response):
    """A merchant (never a credential)."""

    id: int
    display_name: str = Field(description='"deleted tenant #<id>" once deleted.')
    contact_email: str = Field(description="Empty once the tenant is deleted.")
    status: str
    invoice_creation_allowed: bool
    invoice_refused_at: datetime | None = Field(
        description="When Billbee last refused an invoice or delivery note although the "
        "merchant had allowed invoice creation (it is then recorded as not allowed)."
    )
    monthly_call_budget: int | None = Field(
        description="Billbee calls a month this tenant may make; null: no budget."
    )
    budget_hard: bool = Field(
        description="True: over the budget new calls are refused (429); false: it only warns."
    )
    verified_at: datetime | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime
    feeds: list[FeedOut] = Field(
        default_factory=list,
        description="The tenant's change feeds (switched on with `PUT .../feeds`).",
    )


class TenantFeedsOut(_Response):
    """A tenant's change feeds."""

    tenant_id: int
    feeds: list[FeedOut]


class TenantPage(_Response):
    """One page of tenants; pass ``next_after`` as ``after`` for the next page."""

    items: list[TenantOut]
    next_after: int | None


class ReconnectLinkOut(_Response):
    """A signed link where the merchant enters a new Billbee API password."""

    tenant_id: int
    url: str
    expires_at: datetime
    leave_url: str = Field(
        description="A leave link to send with it (see createLeaveLink): the merchant can "
        "leave at any time."
    )


class LeaveLinkOut(_Response):
    """A signed, single-use link where the merchant confirms leaving billhive."""

    tenant_id: int
    url: str
    expires_at: datetime


class CallPage(_Response):
    """One page of calls; pass ``next_after`` as ``after`` for the next page."""

    items: list[CallOut]
    next_after: int | None


class BatchOut(_Response):
    """The queued calls, in the order of the request."""

    calls: list[CallOut]


class StockHandle(_Response):
    """The call that sets one item's stock."""

    sku: str
    call: CallOut


class StockOut(_Response):
    """One handle per item, in the order of the request."""

    items: list[StockHandle]


class CallbackOut(_Response):
    """The registered callback; ``signing_secret`` only in the answer that registered it."""

    url: str
    registered_at: datetime
    events: list[str]
    tenant_ids: list[int] | None
    signing_secret: str | None = None


class DeliveryOut(_Response):
    """One callback delivery and how it went."""

    id: int
    call_id: int | None = Field(description="The finished call told, or null for a feed event.")
    feed_event_id: int | None = Field(
        description="billhive's row number of the feed event told (not its `sequence`: "
        "match events by `event_id`), or null for a finished call."
    )
    event_id: str | None = Field(
        default=None,
        description="The feed event told (`evt_...`, its `id` in the pull API and "
        "`Billhive-Event-Id`), or null for a finished call or an event already purged.",
    )
    event_sequence: int | None = Field(
        default=None,
        description="That event's `sequence` (as in the pull API), or null.",
    )
    url: str
    status: str = Field(description="pending, delivered, failed or cancelled.")
    attempts: int
    last_http_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    delivered_at: datetime | None


class EventOut(_Response):
    """One change in a merchant's Billbee (minimal data: fetch the record with a call)."""

    id: str = Field(description="Stable event id (`evt_...`), the same in every delivery.")
    sequence: int = Field(
        description="Orders all events in the order they were announced: a reader paging "
        "by it never skips an event (numbers may jump); pass the last one seen as `after`."
    )
    type: str = Field(
        description="order.created, order.changed, shipment.created or stock.changed."
    )
    tenant_id: int
    resource: str = Field(description="orders, shipments or stock.")
    record_id: str = Field(description="Billbee's id of the order, shipment or article.")
    modified_at: datetime | None = Field(description="Billbee's modification time.")
    changed: list[str] | None = Field(
        description="The top-level fields that changed; null when not known."
    )
    created_at: datetime


class EventPage(_Response):
    """One page of events by ``sequence``; pass ``next_after`` as ``after`` for the next
    (null on the last page: keep the last item's ``sequence`` to ask for newer ones)."""

    items: list[EventOut]
    next_after: int | None


class DeliveryPage(_Response):
    """One page of deliveries; pass ``next_after`` as ``after`` for the next page."""

    items: list[DeliveryOut]
    next_after: int | None


class KeyMonthOut(_Response):
    """The API key's Billbee calls and bill in one month (all tenants together)."""

    month: date = Field(description="The month's first day.")
    calls: int
    bill_eur: Decimal = Field(
        description="100,000 calls a month free, then EUR 0.0005 a call (since 2025-11-01)."
    )
    complete: bool = Field(description="The month is over.")
    forecast: bool = Field(description="Figures extended to the month's end at its pace.")


class KeyCostsOut(_Response):
    """What Billbee bills the API key: this month so far, last month, forecast."""

    this_month: KeyMonthOut
    last_month: KeyMonthOut
    forecast: KeyMonthOut
    free_calls_per_month: int
    price_per_call_eur: Decimal


class TenantMonthOut(_Response):
    """A tenant's calls and its share of the key's bill in one month."""

    month: date
    calls: int
    key_calls: int
    key_bill_eur: Decimal
    share_eur: Decimal = Field(description="The key's bill times the tenant's part of its calls.")


class BudgetOut(_Response):
    """A tenant's monthly call budget and its Billbee calls this month (`used`)."""

    monthly_call_budget: int | None
    hard: bool
    used: int
    over: bool


class ReconciliationOut(_Response):
    """Billbee's own count of the tenant's calls (GET /apiusage) next to billhive's."""

    month: date
    billbee_calls: int | None
    billhive_calls: int
    difference: int | None = Field(description="Billbee's count minus billhive's.")
    flagged: bool = Field(description="The difference is above the configured threshold.")
    checked_at: datetime
    error: str | None = Field(description="Why the last reading failed, if it did.")


class TenantCostsOut(_Response):
    """A tenant's Billbee calls and share of the bill, its budget, Billbee's count."""

    tenant_id: int
    this_month: TenantMonthOut
    last_month: TenantMonthOut
    forecast: TenantMonthOut
    budget: BudgetOut
    reconciliation: ReconciliationOut | None


class ErrorDetail(_Response):
    """What went wrong."""

    # Errors answered outside the API's own handlers (an unknown route, 405) carry no field.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=False
    )

    code: str = Field(description="Stable machine-readable code (see the list in the docs).")
    message: str
    field: str | None = Field(
        None, description="The request field, parameter or header at fault (may be absent)."
    )


class ErrorOut(_Response):
    """Every error answer."""

    error: ErrorDetail


REQUEST_MODELS: tuple[type[BaseModel], ...] = (
    EnqueueCallRequest,
    EnqueueBatchRequest,
    StockRequest,
    CallbackRequest,
    BudgetRequest,
    FeedsRequest,
)
RESPONSE_MODELS: tuple[type[BaseModel], ...] = (
    TenantOut,
    TenantPage,
    ReconnectLinkOut,
    LeaveLinkOut,
    CallOut,
    CallPage,
    BatchOut,
    StockOut,
    CallbackOut,
    DeliveryPage,
    EventPage,
    KeyCostsOut,
    TenantCostsOut,
    BudgetOut,
    TenantFeedsOut,
    ErrorOut,
)
