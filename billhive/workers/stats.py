"""Live counters in Redis for the dashboard and /metrics: cheap to write, cheap to read.

Per-second dispatch counts give "how much of the key's 50 calls/s is in use now"; per-minute
outcome counts give the last hour's chart. Both expire by themselves.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from redis import Redis
from redis.client import Pipeline

from billhive.billbee.limits import KEY_LIMIT

PREFIX = "billhive:stats:"
SECOND_TTL = 120
MINUTE_TTL = 2 * 3600
OUTCOMES = ("succeeded", "failed", "throttled", "retried", "unknown_outcome")


def _second_key(second: int) -> str:
    return f"{PREFIX}s:{second}"


def _minute_key(minute: int) -> str:
    return f"{PREFIX}m:{minute}"


def record_billbee_call(client: Redis | Pipeline, *, at: float | None = None) -> None:
    """Count one HTTP call made to Billbee (for the budget gauge)."""
    second = int(at if at is not None else time.time())
    key = _second_key(second)
    client.incr(key)
    client.expire(key, SECOND_TTL)


def record_outcome(client: Redis | Pipeline, outcome: str, *, at: float | None = None) -> None:
    """Count one attempt's outcome in its minute (for the last hour's chart)."""
    minute = int(at if at is not None else time.time()) // 60
    key = _minute_key(minute)
    client.hincrby(key, outcome, 1)
    client.expire(key, MINUTE_TTL)


WORKER_LOAD_TTL = 15


def record_worker_load(
    redis: Redis, worker: str, *, in_flight: int, target: int, latency: float
) -> None:
    """One worker process's load now: calls in flight, how many it aims for, the Billbee
    latency it measures (gone when the process stops reporting)."""
    key = f"{PREFIX}worker:{worker}"
    with redis.pipeline(transaction=False) as pipe:
        pipe.hset(
            key,
            mapping={"in_flight": in_flight, "target": target, "latency_ms": round(latency * 1000)},
        )
        pipe.expire(key, WORKER_LOAD_TTL)
        pipe.execute()


@dataclass(frozen=True)
class WorkerLoad:
    """Every worker process's load together (for the dashboard and /metrics)."""

    processes: int
    in_flight: int
    target: int
    latency_ms: int | None


def worker_load(redis: Redis) -> WorkerLoad:
    """The load the worker processes reported last (SCAN: a dashboard read)."""
    keys = list(redis.scan_iter(match=f"{PREFIX}worker:*", count=1000))
    if not keys:
        return WorkerLoad(0, 0, 0, None)
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.hgetall(key)
    loads = [
        {(k.decode() if isinstance(k, bytes) else k): int(v) for k, v in row.items()}
        for row in pipe.execute()
        if row
    ]
    latencies = [load["latency_ms"] for load in loads if "latency_ms" in load]
    return WorkerLoad(
        processes=len(loads),
        in_flight=sum(load.get("in_flight", 0) for load in loads),
        target=sum(load.get("target", 0) for load in loads),
        latency_ms=round(sum(latencies) / len(latencies)) if latencies else None,
    )


def calls_in_last_second(redis: Redis, *, now: float | None = None) -> int:
    """Billbee calls made during the last complete second."""
    second = int(now if now is not None else time.time()) - 1
    value = redis.get(_second_key(second))
    return int(value or 0)


def key_budget_in_use(redis: Redis, *, now: float | None = None) -> float:
    """Share (0..1) of the key's calls per second used during the last complete second."""
    return calls_in_last_second(redis, now=now) / KEY_LIMIT


def outcomes_per_minute(
    redis: Redis, minutes: int = 60, *, now: float | None = None
) -> list[tuple[int, dict[str, int]]]:
    """For each of the last ``minutes`` minutes (oldest first): (minute start epoch, counts)."""
    current = int(now if now is not None else time.time()) // 60
    wanted: Iterable[int] = range(current - minutes + 1, current + 1)
    pipe = redis.pipeline(transaction=False)
    minutes_list = list(wanted)
    for minute in minutes_list:
        pipe.hgetall(_minute_key(minute))
    rows = []
    for minute, raw in zip(minutes_list, pipe.execute(), strict=True):
        counts = {name: 0 for name in OUTCOMES}
        for field, value in raw.items():
            name = field.decode() if isinstance(field, bytes) else str(field)
            counts[name] = int(value)
        rows.append((minute * 60, counts))
    return rows
