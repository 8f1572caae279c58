"""Order changes the sandbox makes by itself, and the log of every order state change.

The change generator (``PUT /api/v1/_sandbox/changes/generator``
``{"per_account_per_minute": 1}``) changes the state of a random order of every account
at that rate on average (independently per account, so changes arrive as a Poisson
stream), from one background thread started on first use. Each change is made like
``PUT /orders/{id}/orderstate`` (``State``, ``LastModifiedAt``, history, event) and is
delivered to the account's webhooks. Every order state change, generated or asked for
through the API, is appended to the change log (``GET /api/v1/_sandbox/changes``), which a
benchmark compares with the events billhive delivered. A change is logged at the moment
written on the order (``LastModifiedAt``), not at the moment the log is appended to: a
pause in between (the garbage collector, another thread holding the GIL) must not move
the logged change into the next second, past the order's whole-second stamp.
"""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from billhive.sandbox.faults import KnobError
from billhive.sandbox.records import EVENT_STATE_CHANGED, ORDER_STATES, history, touch
from billhive.sandbox.state import JSON, AccountState, utc_now
from billhive.sandbox.webhook_delivery import ORDER_STATE_CHANGED, WebhookSender

#: Changes kept in the log (older ones are dropped first).
LOG_SIZE = 500_000
#: How often the generator wakes up.
TICK_SECONDS = 0.1
#: The states a generated change moves an order between (ordered, confirmed, paid, packed).
CYCLE = (1, 2, 3, 13)


@dataclass
class ChangeLog:
    """Every order state change, numbered (``seq``), oldest first."""

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: deque[JSON] = deque(maxlen=LOG_SIZE)
        self._seq = 0

    def add(self, account_id: int, order_id: int, state: int, source: str, at: datetime) -> None:
        """Note one change, made at ``at`` (the moment written on the order)."""
        with self._lock:
            self._seq += 1
            self._rows.append(
                {
                    "seq": self._seq,
                    "account_id": account_id,
                    "order_id": order_id,
                    "state": state,
                    "source": source,
                    "at": at.timestamp(),
                }
            )

    def after(self, seq: int, limit: int) -> list[JSON]:
        """Up to ``limit`` changes numbered above ``seq``."""
        with self._lock:
            rows = list(self._rows)
        return [r for r in rows if r["seq"] > seq][:limit]

    def clear(self) -> None:
        """Forget every change (numbering goes on)."""
        with self._lock:
            self._rows.clear()


def note_state_change(
    log: ChangeLog,
    sender: WebhookSender,
    state: AccountState,
    order: JSON,
    source: str,
    *,
    at: datetime,
) -> None:
    """Log an order's state change made at ``at`` and notify the account's webhooks
    (state lock held)."""
    order_id = int(order["BillBeeOrderId"])
    log.add(state.account_id, order_id, int(order["State"]), source, at)
    sender.notify(
        list(state.webhooks.values()),
        ORDER_STATE_CHANGED,
        {"OrderId": order_id, "NewStateId": order["State"]},
    )


class ChangeGenerator:
    """Changes orders of every account at ``per_account_per_minute`` on average."""

    def __init__(
        self,
        states: Callable[[], Iterable[AccountState]],
        log: ChangeLog,
        sender: WebhookSender,
        *,
        on_change: Callable[[], None] | None = None,
        seed: int = 0,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.per_account_per_minute = 0.0
        self._states = states
        self._log = log
        self._sender = sender
        self._on_change = on_change
        self._clock = clock
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.made = 0

    def settings(self) -> dict[str, Any]:
        """The knob and how many changes were made."""
        return {"per_account_per_minute": self.per_account_per_minute, "made": self.made}

    def configure(self, data: dict[str, Any]) -> None:
        """Apply the control API's JSON; :class:`KnobError` naming what is wrong."""
        unknown = sorted(set(data) - {"per_account_per_minute"})
        if unknown:
            raise KnobError(f"unknown generator setting {unknown[0]!r}")
        try:
            rate = float(data.get("per_account_per_minute", self.per_account_per_minute))
        except (TypeError, ValueError):
            raise KnobError("per_account_per_minute must be a number") from None
        if not 0 <= rate <= 600:
            raise KnobError("per_account_per_minute must be between 0 and 600")
        self.per_account_per_minute = rate
        if rate > 0:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(
                        target=self._run, name="sandbox-changes", daemon=True
                    )
                    self._thread.start()

    def _run(self) -> None:
        last = time.monotonic()
        while True:
            time.sleep(TICK_SECONDS)
            now = time.monotonic()
            elapsed, last = now - last, now
            chance = self.per_account_per_minute * elapsed / 60
            if chance <= 0:
                continue
            made = 0
            for state in list(self._states()):
                if self._rng.random() < chance:
                    made += self.change_one(state)
            if made and self._on_change is not None:
                self._on_change()

    def change_one(self, state: AccountState) -> int:
        """Move a random order of ``state`` to its next state; returns 1 (0: no orders)."""
        with state.lock:
            if not state.orders:
                return 0
            order = state.orders[self._rng.choice(list(state.orders))]
            current = order.get("State")
            nxt = CYCLE[(CYCLE.index(current) + 1) % len(CYCLE)] if current in CYCLE else CYCLE[0]
            now = self._clock()
            order["State"] = nxt
            order["History"].append(
                history(now, "Status geändert", f"Neuer Status: {ORDER_STATES[nxt]}", 2)
            )
            touch(order, now)
            state.add_event(EVENT_STATE_CHANGED, "Status geändert", now, order["BillBeeOrderId"])
            note_state_change(self._log, self._sender, state, order, "generator", at=now)
        self.made += 1
        return 1
