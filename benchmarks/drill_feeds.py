"""The ``feeds`` drill of drill_durability.py: change feeds across worker kills and Redis
restarts, no change missed and none told under two event ids.

Tenants have their orders feed on and Billbee webhooks registered (``billhive web``
receives them); one token's callback takes every order event; the sandbox's generator
changes orders throughout. A third of the way in, the worker and scheduler processes are
SIGKILLed and Redis is SIGKILLed and comes back empty; two thirds in, the workers are
SIGKILLed again and Redis comes back from its append-only file. Before each kill the
sandbox answers slowly and the callback receiver holds its answers back until a fetch
and a callback are in flight, so the kill finds both half done. Both times the killed
processes start again. Then the generator stops and the drill waits until every change
was told (or ``--timeout``) and checks against the sandbox's change log
(benchmarks/feed_checks.py):

* ``changes_missed``: changes no event told;
* ``changes_told_under_two_ids``: changes told by events of more distinct ids than
  changes were made in that second (the same id twice is at-least-once, allowed);
* ``events_not_delivered``: event ids in the database that no callback carried.

Targets: all three 0.
"""

from __future__ import annotations

import argparse
import functools
import signal
import time
from collections import Counter
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from common import wait_http
from feed_checks import (
    CallbackReceiver,
    change_log,
    explain_missed,
    match,
    pending_deliveries,
    sandbox_control,
    subscribe_orders,
    told_under_two_ids,
    undelivered_events,
    wait_first_passes,
    wait_registered,
)
from sqlalchemy import func, select

from billhive.dev.embedded_redis import free_port
from billhive.feeds.fetch import CONSUMER
from billhive.feeds.models import FeedEvent
from billhive.workers.models import Call, CallStatus

if TYPE_CHECKING:
    from drill_durability import Stack

#: The sandbox's latency outside the kills (the Stack's default).
LATENCY = {"kind": "lognormal", "ms": 100, "sigma": 0.3}
#: How long a kill waits for a fetch and a callback to be in flight.
HOLD_SECONDS = 15.0


def feed_settings() -> dict[str, Any]:
    """The platform's settings for the drill: Billbee's webhooks reach ``billhive web`` on
    a free port."""
    return {"public_url": f"http://127.0.0.1:{free_port()}", "feed_webhooks": True}


def drill_feeds(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    """Run the drill on ``stack`` (Redis keeps an append-only file); its figures."""
    with CallbackReceiver() as receiver:
        return _run(stack, receiver, args)


def _fetches_running(stack: Stack) -> int:
    with stack.runtime.database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Call)
                .where(Call.consumer == CONSUMER, Call.status == CallStatus.RUNNING)
            )
            or 0
        )


def _start_platform(stack: Stack, args: argparse.Namespace) -> dict[str, float]:
    port = urlsplit(stack.settings.public_url).port
    stack.start("web", "web", "--port", str(port), "--workers", "2")
    stack.start("worker", "worker", "--concurrency", str(args.workers))
    stack.start("scheduler", "scheduler")
    wait_http(f"{stack.settings.public_url}/healthz")
    database, tenants = stack.runtime.database, len(stack.tenants)
    registered = wait_registered(database, tenants, timeout=tenants * 2 + 60)
    return {
        "webhooks_registered_s": round(registered, 1),
        "first_passes_s": round(wait_first_passes(database, timeout=60), 1),
    }


def _hold_work_in_flight(stack: Stack, receiver: CallbackReceiver) -> None:
    """Slow the sandbox and the callback receiver down until a fetch and a callback are
    in flight (at most :data:`HOLD_SECONDS`), so the kill finds work half done."""
    stack.sandbox.latency({"kind": "fixed", "ms": 2500})
    receiver.delay = 4.0
    deadline = time.monotonic() + HOLD_SECONDS
    while time.monotonic() < deadline:
        if _fetches_running(stack) and receiver.in_flight:
            return
        time.sleep(0.1)


def _kill_workers_and_redis(
    stack: Stack, receiver: CallbackReceiver, workers: int, *, scheduler: bool, empty: bool
) -> dict[str, Any]:
    """SIGKILL the workers (and the scheduler) with work in flight, SIGKILL Redis and start
    it again (empty, or from its append-only file), then start the killed processes
    again."""
    held = time.monotonic()
    _hold_work_in_flight(stack, receiver)
    held = time.monotonic() - held
    running, answering = _fetches_running(stack), receiver.in_flight
    stack.stop("worker", signal.SIGKILL)
    if scheduler:
        stack.stop("scheduler", signal.SIGKILL)
    stack.redis.kill()
    stack.redis.start_again(empty=empty)
    stack.start("worker", "worker", "--concurrency", str(workers))
    if scheduler:
        stack.start("scheduler", "scheduler")
    stack.sandbox.latency(LATENCY)
    receiver.delay = 0.0
    return {
        "killed": ["worker", "scheduler", "redis"] if scheduler else ["worker", "redis"],
        "redis_back": "empty" if empty else "from its append-only file",
        "fetches_running_when_killed": running,
        "callbacks_unanswered_when_killed": answering,
        "waited_for_work_in_flight_s": round(held, 1),
    }


def _run(stack: Stack, receiver: CallbackReceiver, args: argparse.Namespace) -> dict[str, Any]:
    database, sandbox = stack.runtime.database, stack.sandbox.url
    subscribe_orders(database, stack.tenants, receiver.url)
    sandbox_control(sandbox, "PUT", "webhooks", {"deliver": True})
    setup = _start_platform(stack, args)
    phase = args.feed_seconds / 3
    sandbox_control(sandbox, "PUT", "changes/generator", {"per_account_per_minute": args.rate})
    time.sleep(phase)
    kill = functools.partial(_kill_workers_and_redis, stack, receiver, args.workers)
    failures = [kill(scheduler=True, empty=True)]
    time.sleep(phase)
    failures.append(kill(scheduler=False, empty=False))
    time.sleep(phase)
    sandbox_control(sandbox, "PUT", "changes/generator", {"per_account_per_minute": 0})
    stopped = time.monotonic()
    changes = change_log(sandbox)
    while True:
        arrivals = receiver.snapshot()
        _, missed = match(changes, arrivals)
        undelivered = undelivered_events(database, arrivals)
        settled = not missed and not undelivered and pending_deliveries(database) == 0
        if settled or time.monotonic() - stopped > args.timeout:
            break
        time.sleep(1)
    drained = time.monotonic() - stopped
    latencies, missed = match(changes, arrivals)
    with database.session() as session:
        events = int(session.scalar(select(func.count()).select_from(FeedEvent)) or 0)
    per_id = Counter(a.event_id for a in arrivals)
    return {
        "tenants": len(stack.tenants),
        "rate_per_account_per_minute": args.rate,
        "generating_s": args.feed_seconds,
        "setup": setup,
        "failures": failures,
        "changes": len(changes),
        "events_in_database": events,
        "callbacks": len(arrivals),
        "distinct_event_ids": len(per_id),
        "event_ids_delivered_again": sum(1 for n in per_id.values() if n > 1),
        "changes_missed": len(missed),
        "missed_changes": explain_missed(database, missed, arrivals),
        "changes_told_under_two_ids": told_under_two_ids(changes, arrivals),
        "events_not_delivered": len(undelivered),
        "max_change_to_callback_s": round(max(latencies), 1) if latencies else None,
        "drain_s": round(drained, 1),
    }
