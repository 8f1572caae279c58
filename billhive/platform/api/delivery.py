"""Telling a token's callback URL that a call it enqueued has finished.

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

import json
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import httpx
from redis import Redis
from rq import Queue, Retry
from rq.cron import CronScheduler
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.logs import get_logger
from billhive.platform.api.egress import (
    AddressRefused,
    EgressPolicy,
    PinnedTransport,
    Resolver,
    system_resolver,
)
from billhive.platform.api.idempotency import purge_keys
from billhive.platform.api.models import ApiToken, CallbackDelivery, DeliveryStatus
from billhive.platform.api.present import calls_json
from billhive.platform.api.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    signature_header,
    signing_secret,
)
from billhive.tenants.vault import Vault
from billhive.workers.models import FINAL_STATUSES, UNANNOUNCED, Call
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import get_runtime

#: Waits between attempts: 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, then
#: 6 h three times: the last attempt is about 26 hours after the first.
RETRY_INTERVALS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 21600, 21600, 21600]
MAX_ATTEMPTS = 1 + len(RETRY_INTERVALS)
TIMEOUT_SECONDS = 10.0
EVENT = "call.finished"
#: How often finished calls are collected into deliveries (the callback's latency).
COLLECT_INTERVAL_SECONDS = 5
USER_AGENT = "billhive-callbacks/1"
#: A pending delivery without a job this long after its row was made is queued again.
LOST_AFTER = timedelta(minutes=2)
#: Calls announced per batch; a run takes batches until none is left (or its time is up).
COLLECT_BATCH = 500
COLLECT_BUDGET_SECONDS = 30.0
#: What the delivery log says for every attempt that got no HTTP answer: refused by the
#: egress policy, connection refused, timed out, DNS or TLS failure alike, so that the
#: log tells a token holder nothing about the network behind billhive.
NO_ANSWER = "no HTTP answer (connection failed or timed out)"

log = get_logger(__name__)


class CallbackFailed(RuntimeError):
    """The receiver did not accept a delivery; raised so RQ tries again later."""


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
        select(Call.id, Call.requeues, ApiToken.id, ApiToken.callback_url, ApiToken.revoked_at)
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
        for call_id, requeues, token_id, url, revoked_at in rows
        if token_id is not None and url and revoked_at is None
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


def purge_idempotency_keys() -> int:
    """RQ/cron job: forget idempotency keys past their keeping time; returns how many."""
    runtime = get_runtime()
    with runtime.database.session() as session:
        return purge_keys(session)


def register_cron(scheduler: CronScheduler, *, interval: int = COLLECT_INTERVAL_SECONDS) -> None:
    """The API's periodic jobs on the system queue: collect finished calls every
    ``interval`` seconds, queue lost deliveries again every minute, purge old
    idempotency keys daily.

    ``billhive scheduler`` calls this (the workers package may not import the platform).
    """
    scheduler.register(
        collect_finished_calls, SYSTEM_QUEUE, interval=interval, job_timeout=60, result_ttl=600
    )
    scheduler.register(purge_idempotency_keys, SYSTEM_QUEUE, cron="17 3 * * *", job_timeout=600)
    scheduler.register(
        requeue_lost_callback_deliveries, SYSTEM_QUEUE, cron="* * * * *", job_timeout=300
    )


def deliver_callback(delivery_id: int) -> str:
    """RQ job: POST one delivery; raises :class:`CallbackFailed` so RQ retries it.

    Uses the worker process's runtime (settings, database pool).
    """
    runtime = get_runtime()
    return run_delivery(runtime.settings, runtime.database, delivery_id)


def delivery_client(
    settings: Settings, *, resolver: Resolver = system_resolver, verify: Any = True
) -> httpx.Client:
    """The HTTP client of one delivery: egress-checked and pinned (see ``egress.py``), no
    redirects, no proxy from the environment, its own connection pool.

    ``resolver`` and ``verify`` (an ``ssl.SSLContext``) are for tests that stand in for
    DNS or a private certificate authority; the checks are the same.
    """
    transport = PinnedTransport(
        EgressPolicy.from_settings(settings), resolver=resolver, verify=verify
    )
    return httpx.Client(
        transport=transport, timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    )


def _prepare(
    settings: Settings, session: Session, delivery: CallbackDelivery
) -> tuple[bytes, str] | DeliveryStatus:
    """The body and signing secret, or the status to settle on without sending."""
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED):
        return delivery.status
    token = session.get(ApiToken, delivery.token_id)
    if (
        token is None
        or token.revoked_at is not None
        or token.callback_url != delivery.url
        or not token.callback_salt
    ):
        return DeliveryStatus.CANCELLED
    call = session.get(Call, delivery.call_id)
    if call is None or call.status not in FINAL_STATUSES:
        return DeliveryStatus.CANCELLED
    shown = calls_json(session, Vault.from_settings(settings), [call])[0]
    payload = {"event": EVENT, "delivery_id": delivery.id, "call": shown}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return body, signing_secret(settings.require("secret_key"), token.callback_salt)


def run_delivery(
    settings: Settings,
    database: Database,
    delivery_id: int,
    client: httpx.Client | None = None,
) -> str:
    """Send delivery ``delivery_id`` once and record the attempt; returns its status.

    ``client`` defaults to a fresh :func:`delivery_client` (closed afterwards).
    """
    if client is None:
        with delivery_client(settings) as own:
            return run_delivery(settings, database, delivery_id, own)
    with database.session() as session:
        delivery = session.get(CallbackDelivery, delivery_id)
        if delivery is None:
            return "missing"
        prepared = _prepare(settings, session, delivery)
        if isinstance(prepared, DeliveryStatus):
            delivery.status = prepared
            return prepared.value
        url = delivery.url
    body, secret = prepared
    # No database transaction is open while the receiver takes its time.
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        EVENT_HEADER: EVENT,
        DELIVERY_HEADER: str(delivery_id),
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    status_code: int | None = None
    error: str | None = None
    try:
        response = client.post(url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        # The operator's log keeps the reason; the token holder's log only "no answer".
        reason = str(exc) if isinstance(exc, AddressRefused) else type(exc).__name__
        log.warning("callback_no_answer", delivery_id=delivery_id, reason=reason)
        error = NO_ANSWER
    return _record(database, delivery_id, status_code, error)


def _record(
    database: Database, delivery_id: int, status_code: int | None, error: str | None
) -> str:
    with database.session() as session:
        delivery = session.get(CallbackDelivery, delivery_id)
        if delivery is None:
            return "missing"
        delivery.attempts += 1
        delivery.last_attempt_at = utcnow()
        delivery.last_http_status = status_code
        delivery.last_error = error
        if error is None:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = delivery.last_attempt_at
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        status = delivery.status
        attempts = delivery.attempts
    log.info(
        "callback_attempt",
        delivery_id=delivery_id,
        status=status.value,
        attempts=attempts,
        http_status=status_code,
    )
    if status is DeliveryStatus.PENDING:
        raise CallbackFailed(f"callback delivery {delivery_id} failed: {error}")
    return status.value
