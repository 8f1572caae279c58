"""Coalesced stock updates: a tenant's queued stock values go out as one updatestockmultiple.

One entry of the coalescing table (:mod:`billhive.workers.coalesce`). Values are
absolute, so per SKU (and stock) only the latest one of a batch is sent; the earlier ones
are recorded as succeeded and superseded. Each call keeps its own outcome, read from
Billbee's per-item results.

The joined jobs stay in the queue until the batch's outcome is recorded: if the worker dies
mid-call, the retried head job takes them again and sends the same absolute values, which
is harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from billhive.billbee.envelope import BillbeeResponse
from billhive.workers.coalesce import (
    MISSING,
    Coalescer,
    Member,
    Outcome,
    Request,
    answer_items,
    item_outcome,
)
from billhive.workers.models import CallStatus

STOCK_OPERATION = "products.update_stock"


class StockValue(Protocol):
    """A queued stock call and its opened body (the SKU and quantity are sealed)."""

    @property
    def id(self) -> int: ...

    @property
    def body(self) -> Any: ...


def merge(calls: Sequence[StockValue]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The bodies to send (latest value per SKU and stock, in arrival order of that value)
    and, for each superseded call, the id of the call whose value replaced it."""
    latest: dict[tuple[str, Any], StockValue] = {}
    for call in calls:
        latest[_target(call)] = call
    winners = {c.id for c in latest.values()}
    superseded = {c.id: latest[_target(c)].id for c in calls if c.id not in winners}
    bodies = [dict(c.body or {}) for c in calls if c.id in winners]
    return bodies, superseded


def _target(call: StockValue) -> tuple[str, Any]:
    """What a stock value is for: the SKU and, when given, the stock."""
    body = call.body or {}
    return str(body.get("Sku")), body.get("StockId")


class StockUpdates(Coalescer):
    """``products.update_stock`` inside ``updatestockmultiple`` (every stock update goes
    this way; the enqueue checked its body)."""

    operation = STOCK_OPERATION

    def accepts(self, params: Mapping[str, Any], body: Any) -> bool:
        return True

    def request(self, members: Sequence[Member]) -> Request:
        bodies, _ = merge(members)
        return Request({}, bodies)

    def outcomes(self, members: Sequence[Member], response: BillbeeResponse) -> dict[int, Outcome]:
        _, superseded = merge(members)
        sent = [m for m in members if m.id not in superseded]
        found = {
            m.id: item_outcome(item) for m, item in zip(sent, answer_items(response), strict=False)
        }
        return {
            m.id: Outcome(CallStatus.SUCCEEDED, result={"superseded_by": superseded[m.id]})
            if m.id in superseded
            else found.get(m.id, MISSING)
            for m in members
        }
