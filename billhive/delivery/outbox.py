"""The outbox: finished calls become delivery rows and jobs.

Telling a token's callback URL that a call it enqueued has finished.

The calls table is the outbox: a call of a token that reached a final status (succeeded,
failed, unknown outcome, cancelled by anyone) and has no ``announced_at`` is waiting to be
announced. :func:`collect_finished` reads a batch of them, writes one delivery-log row per
call whose token has a callback and marks the calls announced, in one transaction, and only
then puts one :func:`deliver_callback` job per row on the system queue. A collector killed
anywhere leaves either nothing done (the next run does it) or committed rows whose jobs
:func:`requeue_lost_deliveries` queues again; two collectors meet on the delivery log's
unique key. The job POSTs the signed outcome; any answer but 2xx (or no answer) raises, so
RQ retries it with backoff for a little over a day, then the delivery is marked failed.
Delivery is at least once: a receiver deduplicates by the delivery id header.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import timedelta

from redis import Redis
from rq import Queue, Retry
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.delivery.models import CallbackDelivery, DeliveryStatus
from billhive.delivery.send import RETRY_INTERVALS, TIMEOUT_SECONDS, deliver_callback
from billhive.delivery.subscriptions import CALL_FINISHED
from billhive.tokens.models import ApiToken
from billhive.workers.models import UNANNOUNCED, Call
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import get_runtime

#: How often finished calls are collected into deliveries (the callback's latency).
COLLECT_INTERVAL_SECONDS = 5
#: A pending delivery without a job this long after its row was made is queued again.
LOST_AFTER = timedelta(minutes=2)
#: Calls announced per batch; a run takes batches until none is left (or its time is up).
COLLECT_BATCH = 500
COLLECT_BUDGET_SECONDS = 30.0


def collect_finished(
    session: Session,
    redis: Redis,
    *,
    limit: int = COLLECT_BATCH,
    budget: float = COLLECT_BUDGET_SECONDS,
) -> list[int]:
    """Turn every unannounced final call into delivery rows and jobs, ``limit`` calls per
    transaction until none is left or ``budget`` seconds passed; returns the new delivery
    ids (their jobs are queued)."""
    deadline = time.monotonic() + budget
    made: list[int] = []
    while time.monotonic() < deadline:
        call_ids, deliveries = _announce_batch(session, limit)
        enqueue_deliveries(redis, deliveries)
        made.extend(deliveries)
        if len(call_ids) < limit:
            break
    return made


def _announce_batch(session: Session, limit: int) -> tuple[list[int], list[int]]:
    """One transaction: the next ``limit`` unannounced calls get their delivery rows and
    their mark. Returns (calls announced, delivery ids); nothing if another collector
    announced the same calls first."""
    rows = session.execute(
        select(
            Call.id,
            Call.requeues,
            ApiToken.id,
            ApiToken.callback_url,
            ApiToken.revoked_at,
            ApiToken.callback_events,
        )
        .outerjoin(ApiToken, ApiToken.id == Call.origin_token_id)
        .where(UNANNOUNCED)
        .order_by(Call.id)
        .limit(limit)
    ).all()
    if not rows:
        session.rollback()
        return [], []
    call_ids = [row[0] for row in rows]
    deliveries = [
        CallbackDelivery(call_id=call_id, token_id=token_id, url=url, call_requeues=requeues)
        for call_id, requeues, token_id, url, revoked_at, events in rows
        if token_id is not None
        and url
        and revoked_at is None
        and (events is None or CALL_FINISHED in events)
    ]
    session.add_all(deliveries)
    session.execute(
        update(Call)
        .where(Call.id.in_(call_ids), Call.announced_at.is_(None))
        .values(announced_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    try:
        session.commit()
    except IntegrityError:
        session.rollback()
        return [], []
    return call_ids, [d.id for d in deliveries]


def delivery_job_id(delivery_id: int) -> str:
    """The RQ job that delivers ``delivery_id`` (derived, so a sweep can look for it)."""
    return f"callback-delivery-{delivery_id}"


def enqueue_deliveries(redis: Redis, delivery_ids: Sequence[int]) -> None:
    """One delivery job per id on the system queue, retried with :data:`RETRY_INTERVALS`."""
    queue = Queue(SYSTEM_QUEUE, connection=redis)
    for delivery_id in delivery_ids:
        queue.enqueue(
            deliver_callback,
            delivery_id,
            job_id=delivery_job_id(delivery_id),
            retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
            job_timeout=int(TIMEOUT_SECONDS) + 20,
            description=f"callback delivery {delivery_id}",
        )


def requeue_lost_deliveries(
    session: Session, redis: Redis, *, older_than: timedelta = LOST_AFTER
) -> list[int]:
    """Queue again the pending deliveries that have no job (Redis failed, or lost its
    data, after their rows were committed); returns their ids."""
    pending = session.scalars(
        select(CallbackDelivery.id).where(
            CallbackDelivery.status == DeliveryStatus.PENDING,
            # Event deliveries are sent by their token's drain (collect_events restarts it).
            CallbackDelivery.call_id.is_not(None),
            CallbackDelivery.created_at < utcnow() - older_than,
        )
    ).all()
    # Deliveries waiting out a retry interval are pending too: one round trip checks all.
    pipe = redis.pipeline(transaction=False)
    for delivery_id in pending:
        pipe.exists(Job.key_for(delivery_job_id(delivery_id)))
    lost = [i for i, found in zip(pending, pipe.execute(), strict=True) if not found]
    enqueue_deliveries(redis, lost)
    return lost


def requeue_lost_callback_deliveries() -> int:
    """RQ/cron job: :func:`requeue_lost_deliveries`; returns how many were queued again."""
    runtime = get_runtime()
    with runtime.database.session() as session:
        return len(requeue_lost_deliveries(session, runtime.redis))


def collect_finished_calls() -> int:
    """RQ/cron job: collect finished calls into deliveries; returns how many were made."""
    runtime = get_runtime()
    with runtime.database.session() as session:
        return len(collect_finished(session, runtime.redis))
