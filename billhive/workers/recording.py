"""Writing outcomes: final call states, the size-capped result, per-day Billbee usage.

A final status needs no separate announcement: the call row itself is the outbox (see
``Call.announced_at``), so committing the status is what announces it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from sqlalchemy import insert
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from billhive.billbee.errors import Throttled
from billhive.db import utcnow
from billhive.logs import get_logger
from billhive.workers.models import RESULT_MAX_CHARS, Call, CallStatus, UsageDay
from billhive.workers.payloads import encode
from billhive.workers.stats import record_billbee_call

log = get_logger(__name__)


def cap_result(data: Any) -> tuple[str, bool]:
    """The JSON text of ``data`` if it fits the cap, else that of a preview and True
    (truncated). Text, encoded once: it is what gets sealed (workers/payloads.py)."""
    text = encode(data)
    if len(text) <= RESULT_MAX_CHARS:
        return text, False
    return encode({"truncated_json": text[:RESULT_MAX_CHARS]}), True


@contextmanager
def job_events(redis: Redis) -> Iterator[Pipeline]:
    """Collect a job's live counters; send them in one round trip when the job's block
    ends, after the commits they follow (a worker's Redis round trips delay its next job).

    The counters feed the dashboard's gauges only: if Redis cannot take them (it is
    restarting), they are dropped with a warning rather than failing a recorded call.
    """
    events = redis.pipeline(transaction=False)
    try:
        yield events
    finally:
        try:
            events.execute()
        except RedisError as exc:
            log.warning("job_counters_dropped", error=type(exc).__name__)


def finish_call(
    session: Session, call: Call, status: CallStatus, *, error: str | None = None
) -> None:
    """Give the call its final status and commit (which announces it: the row is the
    outbox the callback collector reads)."""
    call.status = status
    call.finished_at = utcnow()
    if error is not None:
        call.error = error
    session.commit()


def _upsert(session: Session) -> Any:
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        return postgresql.insert
    if dialect == "sqlite":
        return sqlite.insert
    return insert


def count_usage(
    session: Session,
    redis: Redis | Pipeline,
    tenant_id: int,
    *,
    reached: bool,
    error: BaseException | None = None,
    calls: int = 1,
) -> None:
    """Add ``calls`` Billbee HTTP calls (and 429s) to the tenant's day (not committed).

    Calls that never left this machine are not counted: Billbee does not bill them.
    """
    if not reached:
        return
    throttled = calls if isinstance(error, Throttled) else 0
    stmt = _upsert(session)(UsageDay).values(
        tenant_id=tenant_id, day=utcnow().date(), calls=calls, throttled=throttled
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=[UsageDay.tenant_id, UsageDay.day],
        set_={"calls": UsageDay.calls + calls, "throttled": UsageDay.throttled + throttled},
    )
    session.execute(stmt)
    for _ in range(calls):
        record_billbee_call(redis)
