"""Coalescing: queued calls of one operation go out together as one call of its bulk form.

A tenant's calls of a coalescable operation (``products.update_stock``, stock reads by SKU,
``orders.add_tags``, ``orders.create``, ``shipments.create``) are queued one ``Call`` each.
When one starts, the calls of the same kind queued right behind it join it and the lot is
sent as one bulk call (``updatestockmultiple``, ``stockmultiple``, ``orders/tags``,
``createmultiple``, ``shipmentmultiple``); each call gets its own outcome from the bulk
answer. The runner is :mod:`billhive.workers.batches`; this module is the contract one
entry of the table (:data:`billhive.workers.coalescers.COALESCERS`) fulfils:

- :meth:`Coalescer.accepts`: whether a call can travel as an item of the bulk body at all
  (a call with parameters the bulk form cannot carry goes alone, as before);
- :meth:`Coalescer.group`: which calls may share one bulk call (tags: the same Tags);
- :meth:`Coalescer.size`: how many items a set of calls makes (checked against the cap);
- :meth:`Coalescer.request`: the bulk call's parameters and body (stock: the latest value
  per SKU and stock only);
- :meth:`Coalescer.outcomes`: each call's own outcome from Billbee's answer.

Entries are pure: no database, no Redis, no HTTP.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from billhive.billbee.envelope import BillbeeResponse, parse_envelope
from billhive.billbee.errors import error_name
from billhive.billbee.limits import BULK_FORMS
from billhive.billbee.operations import get_operation
from billhive.workers.models import CallStatus

#: The error of a call whose item Billbee's answer does not contain.
NO_ITEM = "no result for this item in Billbee's answer"


@dataclass(frozen=True)
class Member:
    """A call of a batch: its id and its opened parameters and body."""

    id: int
    params: Mapping[str, Any]
    body: Any


@dataclass(frozen=True)
class Outcome:
    """One call's own outcome: its final status and the fields recorded on its row
    (``result`` is sealed; the error fields are set as they are)."""

    status: CallStatus
    result: Any = None
    error: str | None = None
    error_code: int | None = None
    error_name: str | None = None


@dataclass(frozen=True)
class Request:
    """The bulk call to send: its parameters and body."""

    params: dict[str, Any]
    body: Any


MISSING = Outcome(CallStatus.FAILED, error=NO_ITEM)
#: A call of a non-idempotent bulk call (orders, shipments, tags) whose item the answer
#: lacks: Billbee answered, so it may have run the item too, and "failed" would invite a
#: resend that does it twice.
UNANSWERED = Outcome(CallStatus.UNKNOWN_OUTCOME, error=NO_ITEM + "; Billbee may have run it")


def item_outcome(item: Any) -> Outcome:
    """One element of a bulk answer (an envelope per item, in the order sent)."""
    entry: BillbeeResponse = parse_envelope(item)
    if entry.ok:
        return Outcome(CallStatus.SUCCEEDED, result=entry.data)
    return Outcome(
        CallStatus.FAILED,
        error=entry.error_message or error_name(entry.error_code),
        error_code=entry.error_code,
        error_name=error_name(entry.error_code),
    )


def answer_items(response: BillbeeResponse) -> list[Any]:
    """The per-item answers of a bulk call (an empty list for an answer of another
    shape: every call then gets its coalescer's outcome for a missing item)."""
    return response.data if isinstance(response.data, list) else []


class Coalescer:
    """One row of the coalescing table: how calls of ``operation`` travel inside
    ``bulk_operation``. Subclasses override what differs; the defaults suit a bulk
    operation whose body is an array of the single operation's bodies, answered with one
    envelope per item in order."""

    operation: str

    @property
    def bulk_operation(self) -> str:
        """The bulk operation the calls travel inside (one table for the workers' jobs and
        the coalescers: :data:`billhive.billbee.limits.BULK_FORMS`)."""
        return BULK_FORMS[self.operation]

    def accepts(self, params: Mapping[str, Any], body: Any) -> bool:
        """Whether the call can be an item of the bulk body (default: no parameters, a
        JSON object as body)."""
        return not params and isinstance(body, Mapping)

    def group(self, member: Member) -> Hashable:
        """Calls share a bulk call only with calls of the same group (default: all)."""
        return None

    def size(self, members: Sequence[Member]) -> int:
        """How many items ``members`` make in the bulk body (default: one each)."""
        return len(members)

    def cap(self, caps: Mapping[str, int]) -> int:
        """Most items per bulk call (``caps``: the configured bulk caps)."""
        return caps[self.bulk_operation]

    def request(self, members: Sequence[Member]) -> Request:
        """The bulk call carrying ``members`` (default: an array of their bodies)."""
        return Request({}, [dict(m.body) for m in members])

    def missing(self) -> Outcome:
        """The outcome of a call the bulk answer has no item for: failed when the bulk
        operation is idempotent, else unknown (it may have run)."""
        return MISSING if get_operation(self.bulk_operation).idempotent else UNANSWERED

    def outcomes(self, members: Sequence[Member], response: BillbeeResponse) -> dict[int, Outcome]:
        """Each member's outcome from the bulk answer (default: item n answers member n;
        a member with no item gets :meth:`missing`)."""
        items = answer_items(response)
        found = {m.id: item_outcome(item) for m, item in zip(members, items, strict=False)}
        return {m.id: found.get(m.id, self.missing()) for m in members}
