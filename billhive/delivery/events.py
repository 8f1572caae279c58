"""Feed events to callbacks: in order per token, at least once, each with a stable id.

The events table is the outbox: :func:`collect_events` reads the unannounced events in id
order, writes one delivery row per subscribed callback, and marks them announced with
their commit-ordered sequence number (``FeedEvent.seq``, the pull API's cursor), in one
transaction; then it makes sure each token with pending event deliveries has a *drain*
job. A drain sends its token's pending event deliveries oldest first and stops at the
first that fails, raising so RQ tries again with the callback retry intervals: a later
event of a tenant and resource never overtakes an earlier one (the events of one feed
were written in order, so their ids are in order). One drain per token runs at a time
(a Redis lock); a lost drain is queued again by the next collection. Receivers
de-duplicate by ``Billhive-Event-Id``, the same in every retry and in the pull API.

The drain's lock is a lease: it expires :data:`DRAIN_LOCK_SECONDS` after its holder
stopped renewing it, and a thread of the drain renews it while the drain runs. A drain
whose worker was killed (SIGKILL, OOM) thus lets go within seconds, and the next
collection replaces its job, which RQ still shows as started when Redis kept its data
(an append-only file, a replica): with a lock held for the drain's whole budget, the
token's events waited ten minutes.

A renewal that fails means the lease may be gone: it expired while this process was
paused or Redis stalled, and another drain of the token may hold it now. The drain then
stops before its next delivery and leaves the rest to that drain (or to the one the next
collection queues): two drains sending for one token would send events twice and out of
order.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import cast

from redis import Redis
from redis.exceptions import LockError, RedisError
from redis.lock import Lock
from rq import Queue, Retry
from rq.job import Job
from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.delivery.models import CallbackDelivery, DeliveryStatus
from billhive.delivery.send import RETRY_INTERVALS, delivery_client, run_delivery
from billhive.delivery.subscriptions import feed_subscribers
from billhive.feeds.models import FeedEvent
from billhive.logs import get_logger
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import get_runtime

log = get_logger(__name__)

#: How often new events are collected (a part of the change-to-callback latency).
EVENT_COLLECT_INTERVAL_SECONDS = 1
#: Events announced per transaction.
COLLECT_BATCH = 1000
COLLECT_BUDGET_SECONDS = 20.0
#: How long a drain's lock outlives its last renewal (a dead drain lets go this soon).
DRAIN_LOCK_SECONDS = 15
#: How often a running drain renews its lock.
DRAIN_LOCK_RENEW_SECONDS = 5.0
DRAIN_TIMEOUT = 300
#: A drain stops after this long and leaves the rest to the next one.
DRAIN_BUDGET_SECONDS = 240.0
_UNANNOUNCED = FeedEvent.announced_at.is_(None)


def _announce_batch(session: Session, limit: int) -> tuple[int, set[int]]:
    # FOR UPDATE, in id order: a second collector waits here for the first (no deadlock:
    # both lock in one order) and then skips what the first announced.
    events = session.execute(
        select(FeedEvent.id, FeedEvent.type, FeedEvent.tenant_id)
        .where(_UNANNOUNCED)
        .order_by(FeedEvent.id)
        .limit(limit)
        .with_for_update()
    ).all()
    if not events:
        session.rollback()
        return 0, set()
    subscribers = feed_subscribers(session)
    rows = [
        CallbackDelivery(feed_event_id=event_id, token_id=sub.token_id, url=sub.url)
        for event_id, kind, tenant_id in events
        for sub in subscribers
        if sub.wants(kind.value, tenant_id)
    ]
    try:
        numbered = _number(session, [e[0] for e in events])
        if numbered < len(events):  # SQLite: another collector announced some since
            session.rollback()
            return 0, set()
        session.add_all(rows)
        session.commit()
    except IntegrityError:
        session.rollback()  # another collector announced them (or drew these seqs) first
        return 0, set()
    return len(events), {row.token_id for row in rows}


def _number(session: Session, event_ids: list[int]) -> int:
    """Mark the events announced and give them the next sequence numbers, in id order.

    Read after the row locks were granted, the largest ``seq`` includes every collector
    that announced before; one that numbers concurrently from the same largest draws the
    same numbers, and the unique index fails the later of the two to commit. So a
    ``seq`` commits only after every smaller one did, and none is left out. Returns how
    many events were still unannounced (all of them where the rows are locked).
    """
    last = session.scalar(select(func.max(FeedEvent.seq))) or 0
    table = cast(Table, FeedEvent.__table__)
    result = session.execute(
        update(table)
        .where(table.c.id == bindparam("b_id"), table.c.announced_at.is_(None))
        .values(seq=bindparam("b_seq"), announced_at=utcnow()),
        [{"b_id": event_id, "b_seq": last + n} for n, event_id in enumerate(event_ids, start=1)],
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def collect_events(
    session: Session,
    redis: Redis,
    *,
    limit: int = COLLECT_BATCH,
    budget: float = COLLECT_BUDGET_SECONDS,
) -> int:
    """Announce every unannounced event (``limit`` per transaction, for ``budget``
    seconds) and make sure a drain runs for every token with pending event deliveries;
    returns how many events were announced."""
    deadline = time.monotonic() + budget
    announced = 0
    while time.monotonic() < deadline:
        count, _ = _announce_batch(session, limit)
        announced += count
        if count < limit:
            break
    pending = set(
        session.scalars(
            select(CallbackDelivery.token_id)
            .where(
                CallbackDelivery.feed_event_id.is_not(None),
                CallbackDelivery.status == DeliveryStatus.PENDING,
            )
            .distinct()
        )
    )
    session.rollback()
    ensure_drains(redis, sorted(pending))
    return announced


def drain_job_id(token_id: int) -> str:
    """The RQ job that drains a token's event deliveries."""
    return f"event-drain-{token_id}"


def drain_lock_name(token_id: int) -> str:
    """The Redis lock a token's running drain holds."""
    return f"billhive:event-drain-lock:{token_id}"


def drain_lock(redis: Redis, token_id: int, timeout: float = DRAIN_LOCK_SECONDS) -> Lock:
    """The lock of a token's running drain (its token is shared with the thread that
    renews it, see :func:`renewed`)."""
    return Lock(redis, drain_lock_name(token_id), timeout=timeout, thread_local=False)


def ensure_drains(redis: Redis, token_ids: list[int]) -> None:
    """Queue a drain for each token that has none queued, running or waiting to retry.

    A drain RQ shows as started whose lock is gone died with its worker: its job is
    replaced, once it started longer ago than the lock's lease (a drain that started just
    now may not have taken its lock yet)."""
    queue = Queue(SYSTEM_QUEUE, connection=redis)
    for token_id in token_ids:
        job_id = drain_job_id(token_id)
        job = Job.fetch(job_id, connection=redis) if redis.exists(Job.key_for(job_id)) else None
        status = job.get_status(refresh=False) if job is not None else None
        if status == "started" and not redis.exists(drain_lock_name(token_id)):
            assert job is not None
            if not _started_before(job, DRAIN_LOCK_SECONDS):
                continue
            job.delete()  # its worker is gone: it will never finish
        elif status not in ("finished", "failed", "canceled", "stopped", None):
            continue
        queue.enqueue(
            drain_events,
            token_id,
            job_id=job_id,
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
            job_timeout=DRAIN_TIMEOUT,
            result_ttl=60,
            failure_ttl=3600,
            description=f"feed event deliveries of token {token_id}",
        )


def _started_before(job: Job, seconds: float) -> bool:
    """Whether RQ marked ``job`` started more than ``seconds`` ago (or never noted when)."""
    if job.started_at is None:
        return True
    started = (
        job.started_at.replace(tzinfo=UTC) if job.started_at.tzinfo is None else job.started_at
    )
    return (datetime.now(UTC) - started).total_seconds() > seconds


def drain(
    session: Session,
    token_id: int,
    send: Callable[[int], str],
    still_ours: Callable[[], bool] | None = None,
) -> int:
    """Send the token's pending event deliveries oldest first; returns how many went.

    Raises ``send.CallbackFailed`` at the first that is not accepted (the rest wait). A
    delivery that failed ``send.MAX_ATTEMPTS`` times is given up (marked failed) so the
    token's later events can go. It asks ``still_ours`` before each delivery and stops
    once the answer is no (the drain's lock expired or could not be renewed, and a second
    drain may be sending: see :func:`holds`).
    """
    sent = 0
    deadline = time.monotonic() + DRAIN_BUDGET_SECONDS
    after = 0
    while time.monotonic() < deadline:
        ids = list(
            session.scalars(
                select(CallbackDelivery.id)
                .where(
                    CallbackDelivery.token_id == token_id,
                    CallbackDelivery.feed_event_id.is_not(None),
                    CallbackDelivery.status == DeliveryStatus.PENDING,
                    CallbackDelivery.id > after,
                )
                .order_by(CallbackDelivery.id)
                .limit(200)
            )
        )
        session.rollback()
        if not ids:
            break
        for delivery_id in ids:
            if still_ours is not None and not still_ours():
                log.warning("event_drain_lock_lost", token_id=token_id, sent=sent)
                return sent
            send(delivery_id)  # raises CallbackFailed while attempts remain
            sent += 1
            after = delivery_id
    return sent


@contextlib.contextmanager
def renewed(lock: Lock, every: float = DRAIN_LOCK_RENEW_SECONDS) -> Iterator[threading.Event]:
    """Renew ``lock`` every ``every`` seconds from a thread while the block runs: it
    stays held as long as this process lives, and expires soon after it dies.

    Yields an event that is set once a renewal failed: the lock is no longer ours
    (``LockNotOwnedError``: it expired, and another holder may have it) or could not be
    confirmed (Redis did not answer). Renewing stops then; the block should stop too.
    """
    stop = threading.Event()
    lost = threading.Event()

    def renew() -> None:
        while not stop.wait(every):
            try:
                lock.reacquire()
            except (LockError, RedisError):
                lost.set()
                return

    thread = threading.Thread(target=renew, name="drain-lock", daemon=True)
    thread.start()
    try:
        yield lost
    finally:
        stop.set()
        thread.join()


def holds(lock: Lock, lost: threading.Event) -> Callable[[], bool]:
    """Whether the drain still holds ``lock``: its renewal has not failed and Redis still
    names it the holder. Asked before each delivery (one Redis read, small beside the
    HTTP post), so a process paused past the lock's expiry sends nothing once it wakes;
    a Redis that does not answer counts as no."""

    def check() -> bool:
        if lost.is_set():
            return False
        try:
            return bool(lock.owned())
        except RedisError:
            return False

    return check


def drain_events(token_id: int) -> int:
    """RQ job: drain one token's event deliveries (one drain per token at a time)."""
    rt = get_runtime()
    lock = drain_lock(rt.redis, token_id)
    if not lock.acquire(blocking=False):
        return 0  # another drain of this token is sending; it takes these too
    try:
        with (
            renewed(lock) as lost,
            delivery_client(rt.settings) as client,
            rt.database.session() as session,
        ):

            def send(delivery_id: int) -> str:
                return run_delivery(rt.settings, rt.database, delivery_id, client, vault=rt.vault)

            return drain(session, token_id, send, holds(lock, lost))
    finally:
        with contextlib.suppress(LockError):
            lock.release()


def collect_feed_events() -> int:
    """RQ/cron job: announce new feed events and start their drains."""
    rt = get_runtime()
    with rt.database.session() as session:
        return collect_events(session, rt.redis)
