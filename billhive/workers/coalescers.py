"""The coalescing table: which single operations travel inside which bulk operation, and how.

Each entry follows the contract of :mod:`billhive.workers.coalesce`; the runner is
:mod:`billhive.workers.batches`. Whether a call coalesces is decided when its job is
pushed (:func:`planned`), from its operation, parameters, body and consumer, so its job
consumes the budget of the endpoint it is really sent to.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from typing import Any

from billhive.billbee.client import MAX_PAGE_SIZE
from billhive.billbee.envelope import BillbeeResponse
from billhive.workers.coalesce import Coalescer, Member, Outcome, Request
from billhive.workers.models import CallStatus
from billhive.workers.stock import StockUpdates

#: The page Billbee serves when a paged call names no ``pageSize``: a stock read of more
#: SKUs than this answers with the first page only, so it is sent alone, as it would be.
BILLBEE_DEFAULT_PAGE_SIZE = 50


def _texts(value: Any) -> bool:
    """A non-empty list of non-empty strings."""
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


class StockReads(Coalescer):
    """``products.stock_multiple`` asking for given SKUs (``{"Skus": [...]}``, no paging,
    no ``modifiedSince``): several become one read of the union of their SKUs, and each
    call gets back the rows of its own SKUs, in the order it asked."""

    operation = "products.stock_multiple"

    def accepts(self, params: Mapping[str, Any], body: Any) -> bool:
        if params or not isinstance(body, Mapping) or set(body) != {"Skus"}:
            return False
        skus = body["Skus"]
        return _texts(skus) and len(dict.fromkeys(skus)) <= BILLBEE_DEFAULT_PAGE_SIZE

    def size(self, members: Sequence[Member]) -> int:
        return len(_union(members))

    def cap(self, caps: Mapping[str, int]) -> int:
        # The union's rows come back as one page.
        return min(caps[self.bulk_operation], MAX_PAGE_SIZE)

    def request(self, members: Sequence[Member]) -> Request:
        skus = _union(members)
        return Request({"pageSize": len(skus)}, {"Skus": skus})

    def outcomes(self, members: Sequence[Member], response: BillbeeResponse) -> dict[int, Outcome]:
        if not isinstance(response.data, list):
            # An answer of another shape is not "no such SKU": every read fails.
            return {m.id: self.missing() for m in members}
        rows = response.data
        by_sku = {row.get("SKU"): row for row in rows if isinstance(row, Mapping)}
        # An unknown SKU has no row, as in a call of its own.
        return {
            m.id: Outcome(
                CallStatus.SUCCEEDED,
                result=[by_sku[sku] for sku in dict.fromkeys(m.body["Skus"]) if sku in by_sku],
            )
            for m in members
        }


def _union(members: Sequence[Member]) -> list[str]:
    return list(dict.fromkeys(sku for m in members for sku in m.body["Skus"]))


def _order_id(value: Any) -> int | None:
    """An order id as the bulk body carries it (an integer), or None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    return None


class TagBatches(Coalescer):
    """``orders.add_tags`` (one order) inside ``orders/tags`` (``{OrderIds, Tags}``): only
    calls adding the same Tags, in the same order, share a call."""

    operation = "orders.add_tags"

    def accepts(self, params: Mapping[str, Any], body: Any) -> bool:
        return (
            set(params) == {"id"}
            and _order_id(params["id"]) is not None
            and isinstance(body, Mapping)
            and set(body) == {"Tags"}
            and _texts(body["Tags"])
        )

    def group(self, member: Member) -> Hashable:
        return tuple(member.body["Tags"])

    def request(self, members: Sequence[Member]) -> Request:
        order_ids = [_order_id(m.params["id"]) for m in members]
        return Request({}, {"OrderIds": order_ids, "Tags": list(members[0].body["Tags"])})


class OrderBatches(Coalescer):
    """``orders.create`` inside ``orders/createmultiple`` (an array of orders). A call with
    the deprecated ``shopId`` query, which the bulk form cannot carry, goes alone."""

    operation = "orders.create"


class ShipmentBatches(Coalescer):
    """``shipments.create`` inside ``shipment/shipmentmultiple`` (an array of shipments)."""

    operation = "shipments.create"


#: The table: single operation -> its entry.
COALESCERS: Mapping[str, Coalescer] = {
    entry.operation: entry
    for entry in (StockUpdates(), StockReads(), TagBatches(), OrderBatches(), ShipmentBatches())
}


def planned(
    operation: str, params: Mapping[str, Any], body: Any, consumer: str | None
) -> Coalescer | None:
    """The entry a call of ``operation`` travels by, or None when it is sent alone: an
    operation without a bulk form, a call whose answer a consumer takes whole, or one the
    bulk form cannot carry."""
    entry = COALESCERS.get(operation)
    if entry is None or consumer is not None or not entry.accepts(params, body):
        return None
    return entry
