"""Running totals behind ``/metrics``, advanced at each scrape over a time window.

Counting a million call rows at every scrape would cost seconds, so each scrape adds only
the calls that finished (or started) since the previous scrape's watermark, and keeps the
totals in Redis, shared by every web process. The window ends ``LAG_SECONDS`` before now,
so a row committed a little after its timestamp is still counted, exactly once. A Redis
lock keeps two scrapes from adding the same window twice. The first scrape starts
``BACKFILL_SECONDS`` back.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from redis import Redis
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billhive.db import utcnow
from billhive.workers.models import Call

LAG_SECONDS = 60.0
BACKFILL_SECONDS = 24 * 3600.0
#: Upper bounds (seconds) of the enqueue-to-start histogram's buckets.
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

PREFIX = "billhive:metrics:"
FINISHED_KEY = PREFIX + "finished"  # hash "status|operation" -> count
WAIT_KEY = PREFIX + "wait"  # hash bucket bound (and "count", "sum") -> value
MARK_KEY = PREFIX + "marks"  # hash "finished"/"started" -> epoch seconds
LOCK_KEY = PREFIX + "lock"
LOCK_SECONDS = 30


def _wait_seconds(session: Session) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Call.started_at - Call.enqueued_at)
    return (func.julianday(Call.started_at) - func.julianday(Call.enqueued_at)) * 86400.0


def _window(redis: Redis, mark: str, end: datetime) -> tuple[datetime, datetime] | None:
    raw = redis.hget(MARK_KEY, mark)
    start = (
        datetime.fromtimestamp(float(raw), UTC)
        if raw is not None
        else end - timedelta(seconds=BACKFILL_SECONDS)
    )
    return (start, end) if start < end else None


def _add_finished(session: Session, redis: Redis, end: datetime) -> None:
    window = _window(redis, "finished", end)
    if window is None:
        return
    rows = session.execute(
        select(Call.status, Call.operation, func.count())
        .where(Call.finished_at >= window[0], Call.finished_at < window[1])
        .group_by(Call.status, Call.operation)
    ).all()
    pipe = redis.pipeline()
    for status, operation, count in rows:
        pipe.hincrby(FINISHED_KEY, f"{status.value}|{operation}", int(count))
    pipe.hset(MARK_KEY, "finished", str(end.timestamp()))
    pipe.execute()


def _add_waits(session: Session, redis: Redis, end: datetime) -> None:
    window = _window(redis, "started", end)
    if window is None:
        return
    wait = _wait_seconds(session)
    columns = [func.sum(case((wait <= bound, 1), else_=0)) for bound in WAIT_BUCKETS]
    total, seconds, *counts = session.execute(
        select(func.count(), func.coalesce(func.sum(wait), 0.0), *columns).where(
            Call.started_at >= window[0], Call.started_at < window[1]
        )
    ).one()
    pipe = redis.pipeline()
    for bound, count in zip(WAIT_BUCKETS, counts, strict=True):
        pipe.hincrby(WAIT_KEY, str(bound), int(count or 0))
    pipe.hincrby(WAIT_KEY, "count", int(total or 0))
    pipe.hincrbyfloat(WAIT_KEY, "sum", float(seconds or 0.0))
    pipe.hset(MARK_KEY, "started", str(end.timestamp()))
    pipe.execute()


def advance(session: Session, redis: Redis, *, now: datetime | None = None) -> bool:
    """Add the calls of the window since the last scrape; False if another scrape is at it."""
    if not redis.set(LOCK_KEY, "1", nx=True, ex=LOCK_SECONDS):
        return False
    try:
        end = (now or utcnow()) - timedelta(seconds=LAG_SECONDS)
        _add_finished(session, redis, end)
        _add_waits(session, redis, end)
    finally:
        redis.delete(LOCK_KEY)
    return True


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def finished_counts(redis: Redis) -> dict[tuple[str, str], int]:
    """(status, operation) -> calls finished so far."""
    found: dict[tuple[str, str], int] = {}
    for field, value in redis.hgetall(FINISHED_KEY).items():
        status, _, operation = _text(field).partition("|")
        found[(status, operation)] = int(value)
    return found


def wait_histogram(redis: Redis) -> tuple[list[tuple[str, float]], float]:
    """Cumulative (``le``, count) buckets with ``+Inf``, and the sum of waits in seconds."""
    raw = {_text(k): _text(v) for k, v in redis.hgetall(WAIT_KEY).items()}
    buckets = [(str(b), float(raw.get(str(b), 0))) for b in WAIT_BUCKETS]
    buckets.append(("+Inf", float(raw.get("count", 0))))
    return buckets, float(raw.get("sum", 0.0))
