"""Shared pieces of the change feed benchmark and drill: the vendor's callback receiver,
the platform's set-up (order feeds on, one subscribed token), the sandbox's change log,
and the checks of what the callbacks told against it.

A change (the sandbox's change log: account, order, Unix time, the moment written on the
order) is *told* by an event of that tenant and order whose ``modified_at`` is not older
than the change (whole seconds, as Billbee stamps); two changes of one order between two
reads are told by one event. The events that tell a change are those of the first
modification second at or after it; more distinct event ids there than changes made in
that second means one change was told under two ids.
"""

from __future__ import annotations

import contextlib
import json
import math
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
from sqlalchemy import func, select

from billhive.db import Database, utcnow
from billhive.delivery.models import CallbackDelivery, DeliveryStatus
from billhive.delivery.signing import EVENT_ID_HEADER, new_salt
from billhive.dev.embedded_redis import free_port
from billhive.feeds.models import Feed, FeedEvent, FeedWebhook, Resource, WebhookState
from billhive.feeds.service import switch_on
from billhive.tokens.models import ApiToken


@dataclass(frozen=True)
class Arrival:
    """One callback as the vendor received it."""

    at: float
    event_id: str
    data: dict[str, Any]


class CallbackReceiver:
    """A local HTTP server that records each feed event callback and when it arrived.

    ``delay`` holds each answer back that many seconds (the callback counts as received,
    the sender does not know yet): a drill kills the sender meanwhile."""

    def __init__(self) -> None:
        self.arrivals: list[Arrival] = []
        self.delay = 0.0
        self.in_flight = 0
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                data = json.loads(body).get("data", {})
                arrival = Arrival(arrived, self.headers.get(EVENT_ID_HEADER, ""), data)
                with receiver._lock:
                    receiver.arrivals.append(arrival)
                    receiver.in_flight += 1
                try:
                    time.sleep(receiver.delay)
                    with contextlib.suppress(OSError):  # the sender may be gone
                        self.send_response(200)
                        self.send_header("Content-Length", "0")
                        self.end_headers()
                finally:
                    with receiver._lock:
                        receiver.in_flight -= 1

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[Arrival]:
        with self._lock:
            return list(self.arrivals)


def subscribe_orders(database: Database, tenants: Iterable[int], callback_url: str) -> None:
    """The tenants' orders feeds on, and a token whose callback takes order events."""
    with database.session() as session:
        for tenant_id in tenants:
            switch_on(session, tenant_id, [Resource.ORDERS])
        session.add(
            ApiToken(
                public_id=new_salt()[:16],
                secret_hash="0" * 64,
                name="feed-checks",
                callback_url=callback_url,
                callback_salt=new_salt(),
                callback_registered_at=utcnow(),
                callback_events=["order.created", "order.changed"],
            )
        )
        session.commit()


def wait_registered(database: Database, tenants: int, timeout: float) -> float:
    """Seconds until every tenant's webhook is registered (RuntimeError after ``timeout``)."""
    started = time.monotonic()
    done = 0
    while time.monotonic() - started < timeout:
        with database.session() as session:
            done = (
                session.scalar(
                    select(func.count())
                    .select_from(FeedWebhook)
                    .where(FeedWebhook.state == WebhookState.REGISTERED)
                )
                or 0
            )
        if done == tenants:
            return time.monotonic() - started
        time.sleep(1)
    raise RuntimeError(f"only {done} of {tenants} webhooks registered within {timeout} s")


def wait_first_passes(database: Database, timeout: float) -> float:
    """Seconds until every feed finished its first pass (so the window starts quiet)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with database.session() as session:
            left = session.scalar(
                select(func.count())
                .select_from(Feed)
                .where((Feed.last_polled_at.is_(None)) | (Feed.call_id.is_not(None)))
            )
        if not left:
            break
        time.sleep(1)
    return time.monotonic() - started


def sandbox_control(
    sandbox_url: str, method: str, path: str, body: dict[str, Any] | None = None
) -> Any:
    """A call of the sandbox's control API."""
    response = httpx.request(method, f"{sandbox_url}/api/v1/_sandbox/{path}", json=body, timeout=30)
    response.raise_for_status()
    return response.json() if response.content else None


def change_log(sandbox_url: str) -> list[dict[str, Any]]:
    """The sandbox's whole change log."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = sandbox_control(sandbox_url, "GET", f"changes?after={after}&limit=100000")
        out.extend(page["items"])
        if not page["items"]:
            return out
        after = page["next_after"]


def _told(arrivals: Iterable[Arrival]) -> dict[tuple[int, str], list[tuple[int, Arrival]]]:
    """The arrivals per tenant and record, with their modification second."""
    out: dict[tuple[int, str], list[tuple[int, Arrival]]] = {}
    for arrival in arrivals:
        modified = arrival.data.get("modified_at")
        if modified is None:
            continue
        second = math.floor(datetime.fromisoformat(modified).timestamp())
        key = (int(arrival.data["tenant_id"]), str(arrival.data["record_id"]))
        out.setdefault(key, []).append((second, arrival))
    return out


def _order_key(change: dict[str, Any]) -> tuple[int, str]:
    return (int(change["account_id"]), str(change["order_id"]))


def match(
    changes: list[dict[str, Any]], arrivals: list[Arrival]
) -> tuple[list[float], list[dict[str, Any]]]:
    """Each told change's latency to the first event that told it; and the changes no
    event told."""
    told = _told(arrivals)
    latencies: list[float] = []
    missed: list[dict[str, Any]] = []
    for change in changes:
        at = float(change["at"])
        floor = math.floor(at)
        candidates = [a.at for second, a in told.get(_order_key(change), []) if second >= floor]
        if candidates:
            latencies.append(max(0.0, min(candidates) - at))
        else:
            missed.append(change)
    return latencies, missed


def told_under_two_ids(changes: list[dict[str, Any]], arrivals: list[Arrival]) -> int:
    """Changes whose telling events (those of the first modification second at or after
    the change) carry more distinct event ids than changes were made in that second."""
    told = _told(arrivals)
    made: dict[tuple[int, str, int], int] = {}
    for change in changes:
        key = (*_order_key(change), math.floor(float(change["at"])))
        made[key] = made.get(key, 0) + 1
    twice = 0
    for change in changes:
        at = math.floor(float(change["at"]))
        seconds = [s for s, _ in told.get(_order_key(change), []) if s >= at]
        if not seconds:
            continue
        first = min(seconds)
        ids = {a.event_id for s, a in told[_order_key(change)] if s == first}
        if len(ids) > made.get((*_order_key(change), first), 0):
            twice += 1
    return twice


def explain_missed(
    database: Database, missed: list[dict[str, Any]], arrivals: list[Arrival], limit: int = 10
) -> list[dict[str, Any]]:
    """The first ``limit`` missed changes, each with the modification times the callbacks
    told for its order and its tenant's orders feed as it stands: enough to tell a change
    never read (a fetch failing, backing off past the drain) from a wrong match."""
    told = _told(arrivals)
    out: list[dict[str, Any]] = []
    with database.session() as session:
        for change in missed[:limit]:
            feed = session.scalars(
                select(Feed).where(
                    Feed.tenant_id == int(change["account_id"]), Feed.resource == Resource.ORDERS
                )
            ).one_or_none()
            state = None
            if feed is not None:
                state = {
                    "failures": feed.failures,
                    "call_id": feed.call_id,
                    "cursor": feed.cursor.isoformat(),
                    "last_polled_at": feed.last_polled_at and feed.last_polled_at.isoformat(),
                    "next_poll_at": feed.next_poll_at.isoformat(),
                }
            seconds = sorted({second for second, _ in told.get(_order_key(change), [])})
            out.append({**change, "told_modified_at": seconds, "feed": state})
    return out


def undelivered_events(database: Database, arrivals: list[Arrival]) -> list[str]:
    """Event ids in the database that no callback carried."""
    with database.session() as session:
        stored = set(session.scalars(select(FeedEvent.event_id)))
    return sorted(stored - {a.event_id for a in arrivals})


def pending_deliveries(database: Database) -> int:
    """Event deliveries not yet sent (nor given up)."""
    with contextlib.suppress(Exception), database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(CallbackDelivery)
                .where(
                    CallbackDelivery.feed_event_id.is_not(None),
                    CallbackDelivery.status == DeliveryStatus.PENDING,
                )
            )
            or 0
        )
    return -1
