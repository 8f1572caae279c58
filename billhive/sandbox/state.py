"""In-memory Billbee data per account, with the spec's field names and shapes.

Each account's data lives in an :class:`AccountState` guarded by its own lock; the
:class:`StateStore` creates (and seeds) it on first use and can persist everything to a
JSON file so a restarted sandbox keeps its orders.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from billhive.sandbox.accounts import Account, SeedError

JSON = dict[str, Any]

#: First id handed out per account: Billbee ids are large int64 numbers.
ID_BASE = 100_000_000_000_000
ID_SPAN = 10_000_000


def utc_now() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """Billbee's date format of order, customer and shipment dates:
    ``2022-07-22T00:00:00+00:00`` (the SDK fixtures' orders)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def iso_local(moment: datetime, *, milliseconds: bool = True) -> str:
    """Billbee's other date format, without an offset: ``2022-07-16T09:56:01.903`` (event
    ``Created``, ``InvoiceDate``; the SDK fixtures' events and invoices) or, without
    milliseconds, ``2022-08-16T14:47:00`` (``DeliveryNoteDate``, ``ShippingDate``).
    The sandbox's clock is UTC, so the local time it writes is UTC."""
    return (
        moment.astimezone(UTC)
        .replace(tzinfo=None)
        .isoformat(timespec="milliseconds" if milliseconds else "seconds")
    )


#: A '+' of an offset that reached the server unescaped reads as a space (``+00:00``).
_SPACED_OFFSET = re.compile(r"(T\d\d:\d\d(?::\d\d(?:\.\d+)?)?) (\d\d:?\d\d)$")


def parse_date(text: str) -> datetime:
    """Parse a date or date-time filter value in every form the SDKs send it: ISO 8601
    with an offset or ``Z`` (billbee-php-sdk ``format('c')``), ``yyyy-MM-dd HH:mm``
    (billbee-csharp-sdk), a bare date, or an offset whose '+' arrived as a space.
    Naive values count as UTC."""
    cleaned = _SPACED_OFFSET.sub(r"\1+\2", text.strip()).replace("Z", "+00:00")
    value = datetime.fromisoformat(cleaned)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


@dataclass
class AccountState:
    """Everything one merchant account holds."""

    account_id: int
    account_name: str
    next_id: int
    orders: dict[int, JSON] = field(default_factory=dict)
    products: dict[int, JSON] = field(default_factory=dict)
    customers: dict[int, JSON] = field(default_factory=dict)
    addresses: dict[int, JSON] = field(default_factory=dict)
    shipments: list[JSON] = field(default_factory=list)
    webhooks: dict[str, JSON] = field(default_factory=dict)
    events: list[JSON] = field(default_factory=list)
    stocks: list[JSON] = field(default_factory=list)
    invoice_counter: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False, compare=False)

    def new_id(self) -> int:
        """A fresh Billbee-style id, unique within the account."""
        self.next_id += 1
        return self.next_id

    def add_event(
        self, type_id: int, text: str, when: datetime, order_id: int | None = None
    ) -> None:
        """Append to the account's event log (GET /events)."""
        event: JSON = {
            "Id": self.new_id(),
            "Created": iso_local(when),
            "TypeId": type_id,
            "TypeText": text,
            "EmployeeName": "API",
        }
        if order_id is not None:
            event["OrderId"] = order_id
        self.events.append(event)

    def to_json(self) -> JSON:
        """Plain data for persistence."""
        data = {k: v for k, v in self.__dict__.items() if k != "lock"}
        for name in ("orders", "products", "customers", "addresses"):
            data[name] = list(data[name].values())
        data["webhooks"] = list(self.webhooks.values())
        return data

    @classmethod
    def from_json(cls, data: JSON) -> AccountState:
        """Rebuild from :meth:`to_json` output."""
        state = cls(int(data["account_id"]), str(data["account_name"]), int(data["next_id"]))
        key_of = {
            "orders": "BillBeeOrderId",
            "products": "Id",
            "customers": "Id",
            "addresses": "Id",
        }
        for name, id_field in key_of.items():
            setattr(state, name, {int(row[id_field]): row for row in data.get(name, [])})
        state.webhooks = {str(w["Id"]): w for w in data.get("webhooks", [])}
        state.shipments = list(data.get("shipments", []))
        state.events = list(data.get("events", []))
        state.stocks = list(data.get("stocks", []))
        state.invoice_counter = int(data.get("invoice_counter", 0))
        return state


Seeder = Callable[[AccountState], None]


class StateFileError(SeedError):
    """The state file cannot be read back; the message names it."""


def _load(path: Path) -> dict[int, AccountState]:
    """Read a state file written by :meth:`StateStore.save`."""
    try:
        rows = json.loads(path.read_text(encoding="utf-8"))
        return {int(r["account_id"]): AccountState.from_json(r) for r in rows}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise StateFileError(
            f"sandbox state file {path} is unreadable ({type(exc).__name__}); "
            "delete it to start from the seed data"
        ) from exc


class StateStore:
    """The states of all accounts; thread-safe; optionally persisted to ``state_file``."""

    def __init__(self, seeder: Seeder, state_file: str | None = None) -> None:
        self._seeder = seeder
        self._lock = threading.Lock()
        self._states: dict[int, AccountState] = {}
        self._file = Path(state_file) if state_file else None
        if self._file is not None and self._file.exists():
            self._states = _load(self._file)

    def __contains__(self, account_id: object) -> bool:
        """Whether the account's state exists yet (seeded or loaded)."""
        return account_id in self._states

    def for_account(self, account: Account) -> AccountState:
        """The account's state, created and seeded on first use."""
        state = self._states.get(account.id)
        if state is not None:
            return state
        with self._lock:
            state = self._states.get(account.id)
            if state is None:
                state = AccountState(account.id, account.name, ID_BASE + account.id * ID_SPAN)
                self._seeder(state)
                self._states[account.id] = state
            return state

    def all_states(self) -> list[AccountState]:
        """Every account state that exists so far."""
        with self._lock:
            return list(self._states.values())

    def save(self) -> None:
        """Write every state to the state file (atomically), if one is configured."""
        if self._file is None:
            return
        with self._lock:
            rows = []
            for state in self._states.values():
                with state.lock:
                    rows.append(state.to_json())
            tmp = self._file.with_suffix(self._file.suffix + ".tmp")
            tmp.write_text(json.dumps(rows), encoding="utf-8")
            os.replace(tmp, self._file)
