"""The reconciler: the database is the truth of every call, and Redis is brought back to it.

A call is committed as a row before its job is pushed to Redis, and Redis can lose what it
was given: a restart without persistence, a failover to a replica that lagged, the last
second of an ``appendfsync everysec`` file, a push refused while it was restarting. The
reconciler, a cron job on the system queue (``BILLHIVE_RECONCILE_INTERVAL_SECONDS``, 15 s),
finds every call that
is ``queued`` or ``running`` in the database with no job to carry it, and pushes the job
again (job ids derive from call ids, and a repair push leaves a job that is still queued or
in flight alone, so a second push is harmless).

What it looks at stays small when nothing is missing, whatever the number of tenants:

- **New calls** only: those with an id above its cursor, older than ``GRACE`` (an enqueue
  pushes right after its commit). Their jobs are checked in one pipelined round trip and
  the cursor moves on.
- **A marker** proves that Redis kept everything older: each run ends by writing a fresh
  random token to Redis (after its checks) and then to the database. Redis restores a
  prefix of its writes (append-only file, replica, snapshot alike), so if the token is
  still there, every push checked before it survived too. If the token is gone or another,
  Redis lost writes since: the cursor goes back to 0 and every queued or running call is
  checked again, in batches, ``BATCH`` calls per query and at most ``TIME_BUDGET`` seconds
  per run. It also puts the calls of the last hour back into the bucket logs with long
  windows (an order's reads a minute, its invoice every five minutes), which the loss
  emptied; the one-second windows are covered by the dispatcher's hold (see
  ``Dispatcher.cold_start_hold`` and docs/scheduling.md).
- **Running calls whose attempt lease ended** (``BILLHIVE_CALL_LEASE_SECONDS``) and whose job is
  neither queued nor in flight: their worker is gone. Few by construction (at most one
  per worker in flight, plus the abandoned).
- **Flights nobody works on**: the dispatcher's in-flight entry of a call the database has
  as final is ended, one of a call still queued 30 s after its dispatch (or running past
  its lease) goes back to the head of its queue. A Redis restored from its file keeps
  flights whose end it lost; without this the tenant waits for the heartbeat deadline.

Repairs keep each tenant's order: a lost running call goes back to the head of its queue
(its job decides, after the lease, whether to send it again or to record an unknown
outcome), lost queued calls to the tail in id order (Redis keeps a prefix, so those it
lost are newer than those it kept). Tenants that may not call Billbee are paused again.
Every repair counts in ``reconciler_state`` (dashboard, ``/metrics``).
"""

from __future__ import annotations

import secrets
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from redis import Redis
from rq.job import JobStatus
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.billbee.limits import Bucket, longest_period, operations_with_long_windows
from billhive.billbee.operations import get_operation
from billhive.db import utcnow
from billhive.logs import get_logger
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers import payloads
from billhive.workers.calls import call_buckets, drop_job, job_options, job_plan
from billhive.workers.models import (
    FINAL_STATUSES,
    Call,
    CallStatus,
    ReconcilerState,
    job_id_for,
)
from billhive.workers.queues import repair_for_tenant
from billhive.workers.scheduling.buckets import SHARED_BUCKETS
from billhive.workers.scheduling.dispatcher import RQ_JOB_KEY_PREFIX, Dispatcher

log = get_logger(__name__)

MARKER_KEY = "billhive:reconcile:marker"
LOCK_KEY = "billhive:reconcile:lock"
#: A call younger than this may still be on its way to Redis (its enqueue pushes right
#: after the commit): not looked at yet.
GRACE = timedelta(seconds=10)
#: BILLHIVE_CALL_LEASE_SECONDS's default (the cron job passes the setting).
DEFAULT_LEASE = timedelta(seconds=135)
#: A live worker claims the call of a job it was handed within milliseconds; a flight whose
#: call is still queued this long after its dispatch has no worker.
FLIGHT_GRACE = timedelta(seconds=30)
#: Calls fetched per query.
BATCH = 2000
#: Seconds one run spends on a full check before leaving the rest to the next run.
TIME_BUDGET = 20.0
#: RQ statuses of a job that will not run again by itself (values: Redis holds text).
_ENDED = {
    s.value for s in (JobStatus.FINISHED, JobStatus.FAILED, JobStatus.STOPPED, JobStatus.CANCELED)
}
#: RQ statuses of a job that waits in a queue (or for RQ's scheduler).
_WAITING = {s.value for s in (JobStatus.QUEUED, JobStatus.DEFERRED, JobStatus.SCHEDULED)}
_STATE_ID = 1
CALL_JOB_PREFIX = job_id_for(0).removesuffix("0")
#: The rules whose windows are a second: the dispatcher's hold covers them.
_SHORT_RULES = SHARED_BUCKETS | {"user", "endpoint"}


@dataclass
class Report:
    """What one run did."""

    checked: int = 0
    recovered: int = 0
    loss_detected: bool = False
    remembered: int = 0
    settled: int = 0
    locked_out: bool = False


def load_state(session: Session) -> ReconcilerState:
    """The reconciler's row (created on first use)."""
    state = session.get(ReconcilerState, _STATE_ID)
    if state is None:
        state = ReconcilerState(id=_STATE_ID, cursor=0, recovered_total=0, last_recovered=0)
        session.add(state)
        session.flush()
    return state


def recheck_from(session: Session, call_id: int) -> None:
    """Make the next run look at calls from ``call_id`` on again (an operator queued old
    calls again: their pushes lie below the cursor). Not committed."""
    state = load_state(session)
    state.cursor = min(state.cursor, call_id - 1)


def reconcile(
    session: Session,
    redis: Redis,
    dispatcher: Dispatcher,
    *,
    vault: Vault,
    batch: int = BATCH,
    budget: float = TIME_BUDGET,
    grace: timedelta = GRACE,
    lease: timedelta = DEFAULT_LEASE,
    lock_seconds: float = 120.0,
) -> Report:
    """One run (see the module docstring); commits. One run at a time (a Redis lock).
    ``vault`` opens the parameters of calls whose jobs are pushed again (their limit
    buckets are per resource for some operations)."""
    report = Report()
    if not redis.set(LOCK_KEY, "1", nx=True, px=int(lock_seconds * 1000)):
        report.locked_out = True
        return report
    try:
        _run(
            session,
            redis,
            dispatcher,
            report,
            vault=vault,
            batch=batch,
            budget=budget,
            grace=grace,
            lease=lease,
        )
    finally:
        redis.delete(LOCK_KEY)
    if report.recovered or report.loss_detected or report.settled:
        log.warning(
            "calls_reconciled",
            recovered=report.recovered,
            settled=report.settled,
            checked=report.checked,
            loss_detected=report.loss_detected,
            remembered=report.remembered,
        )
    return report


def _run(
    session: Session,
    redis: Redis,
    dispatcher: Dispatcher,
    report: Report,
    *,
    vault: Vault,
    batch: int,
    budget: float,
    grace: timedelta,
    lease: timedelta,
) -> None:
    now = utcnow()
    state = load_state(session)
    marker = redis.get(MARKER_KEY)
    if (marker.decode() if isinstance(marker, bytes) else marker) != state.marker:
        # A first run (no marker anywhere) checks everything too, but has lost nothing.
        report.loss_detected = state.marker is not None
        state.cursor = 0
        if report.loss_detected:
            state.last_loss_at = now
            report.remembered = remember_long_windows(session, dispatcher, vault, now=now)
    deadline = time.monotonic() + budget
    while time.monotonic() < deadline:
        rows = session.execute(
            select(Call.id, Call.tenant_id, Call.status, Call.enqueued_at)
            .where(Call.id > state.cursor, Call.status.in_([CallStatus.QUEUED, CallStatus.RUNNING]))
            .order_by(Call.id)
            .limit(batch)
        ).all()
        settled = _settled(rows, now - grace)
        if settled:
            lost = _lost_jobs(redis, settled)
            report.recovered += repair(session, redis, dispatcher, vault, lost)
            report.checked += len(settled)
            state.cursor = settled[-1].id
        if len(settled) < len(rows) or len(rows) < batch:
            break
    report.settled, requeued = settle_flights(session, dispatcher, lease=lease)
    report.recovered += requeued
    abandoned = _abandoned(session, redis, dispatcher, now - lease)
    report.recovered += repair(session, redis, dispatcher, vault, abandoned)
    fresh = secrets.token_hex(16)
    # Redis first: if the commit below fails, the next run finds another marker and checks
    # everything, which is safe; the other order could trust a marker Redis never kept.
    redis.set(MARKER_KEY, fresh)
    state.marker = fresh
    state.last_run_at = now
    if report.recovered:
        state.recovered_total += report.recovered
        state.last_recovered = report.recovered
        state.last_recovered_at = now
    session.commit()


def _settled(rows: Sequence[Any], before: datetime) -> list[Any]:
    """The rows up to the first call too young to judge (ids follow enqueue order)."""
    settled = []
    for row in rows:
        if row.enqueued_at > before:
            break
        settled.append(row)
    return settled


def _job_statuses(redis: Redis, call_ids: Sequence[int]) -> list[str | None]:
    pipe = redis.pipeline(transaction=False)
    for call_id in call_ids:
        pipe.hget(RQ_JOB_KEY_PREFIX + job_id_for(call_id), "status")
    return [v.decode() if isinstance(v, bytes) else v for v in pipe.execute()]


def _lost_jobs(redis: Redis, rows: Sequence[Any]) -> list[int]:
    """Ids of the calls among ``rows`` whose job is gone or ended without them."""
    statuses = _job_statuses(redis, [row.id for row in rows])
    return [row.id for row, status in zip(rows, statuses, strict=True) if _lost(status)]


def _lost(status: str | None) -> bool:
    return status is None or status in _ENDED


def _abandoned(
    session: Session, redis: Redis, dispatcher: Dispatcher, cutoff: datetime
) -> list[int]:
    """Running calls whose attempt began before ``cutoff`` (its lease ended) and whose job
    is neither queued nor in flight (its worker died, and Redis holds no trace that
    recovery could act on)."""
    rows = session.execute(
        select(Call.id, Call.tenant_id).where(
            Call.status == CallStatus.RUNNING, Call.attempt_started_at < cutoff
        )
    ).all()
    if not rows:
        return []
    statuses = _job_statuses(redis, [row.id for row in rows])
    flights = dispatcher.flights()
    abandoned = []
    for row, status in zip(rows, statuses, strict=True):
        in_flight = job_id_for(row.id) in flights
        if in_flight or status in _WAITING:
            continue  # the dispatcher's lease recovery, or the queue, carries it
        abandoned.append(row.id)
    return abandoned


def settle_flights(
    session: Session, dispatcher: Dispatcher, *, lease: timedelta
) -> tuple[int, int]:
    """Settle the dispatcher's in-flight entries that the database says nobody works on.

    A Redis restored from a file or a replica may hold a flight whose end it lost, and the
    calls ordered after it would wait for the dispatcher's own recovery (the job's
    heartbeat deadline, a minute and more). The database knows better: a flight of a final call is
    ended; one of a call still ``queued`` FLIGHT_GRACE after its dispatch (a live worker
    claims its call within milliseconds), or of a ``running`` call whose attempt lease
    ended, goes back to the head of its tenant's queue. Returns how many flights were
    ended and how many calls went back to their queue.
    """
    flights = {
        int(job.removeprefix(CALL_JOB_PREFIX)): flight
        for job, flight in dispatcher.flights().items()
        if job.startswith(CALL_JOB_PREFIX)
    }
    if not flights:
        return 0, 0
    stale = {
        job
        for job, _ in dispatcher.leases(
            older_than=dispatcher.redis_time() - FLIGHT_GRACE.total_seconds()
        )
    }
    expired = utcnow() - lease
    ended = requeued = 0
    for call_id, status, attempt_started_at in session.execute(
        select(Call.id, Call.status, Call.attempt_started_at).where(Call.id.in_(list(flights)))
    ):
        flight = flights[call_id]
        if status in FINAL_STATUSES:
            ended += dispatcher.release(flight.tenant_id, flight.token)
        elif job_id_for(call_id) in stale and (
            status is CallStatus.QUEUED
            or (attempt_started_at is not None and attempt_started_at < expired)
        ):
            requeued += dispatcher.requeue_head(flight.tenant_id, flight.token)
    return ended, requeued


def repair(
    session: Session,
    redis: Redis,
    dispatcher: Dispatcher,
    vault: Vault,
    call_ids: Iterable[int],
) -> int:
    """Push the jobs of these calls again, each tenant's in order: running calls at the
    head, queued ones at the tail; pause again the tenants that may not call Billbee.
    Returns how many calls were pushed."""
    ids = sorted(set(call_ids))
    if not ids:
        return 0
    calls = session.scalars(
        select(Call)
        .where(Call.id.in_(ids), Call.status.in_([CallStatus.QUEUED, CallStatus.RUNNING]))
        .order_by(Call.id)
    ).all()
    by_tenant: dict[int, list[Call]] = defaultdict(list)
    for call in calls:
        by_tenant[call.tenant_id].append(call)
    statuses = {
        row.id: row.status
        for row in session.execute(
            select(Tenant.id, Tenant.status).where(Tenant.id.in_(list(by_tenant)))
        )
    }
    # An ended job of the same id (RQ gave up its retries) would keep its registries'
    # entries; a lost one is not there to drop.
    for call, status in zip(calls, _job_statuses(redis, [c.id for c in calls]), strict=True):
        if status is not None:
            drop_job(redis, job_id_for(call.id))
    keys = payloads.keys_for(session, vault, by_tenant)
    with redis.pipeline() as pipe:
        for tenant_id, tenant_calls in by_tenant.items():
            head = [c for c in tenant_calls if c.status is CallStatus.RUNNING]
            tail = [c for c in tenant_calls if c.status is CallStatus.QUEUED]
            # Pushed to the front one by one, so the lowest id ends up first.
            for call, at_front in [
                *((c, True) for c in reversed(head)),
                *((c, False) for c in tail),
            ]:
                payload = payloads.open_call(keys.get(tenant_id), call)
                plan = job_plan(call, payload.params, payload.body)
                repair_for_tenant(
                    redis,
                    str(tenant_id),
                    plan.func,
                    job_id=job_id_for(call.id),
                    at_front=at_front,
                    pipeline=pipe,
                    lane=call.lane.value,
                    order=plan.order,
                    args=(call.id,),
                    buckets=plan.buckets,
                    **job_options(call),
                )
        pipe.execute()
    for tenant_id in by_tenant:
        if statuses.get(tenant_id) is not TenantStatus.ACTIVE:
            dispatcher.pause(str(tenant_id))
    return len(calls)


def remember_long_windows(
    session: Session, dispatcher: Dispatcher, vault: Vault, *, now: datetime
) -> int:
    """Put the calls of the last hour back into the bucket logs whose windows are longer
    than a second (see the module docstring); returns how many entries were added."""
    since = _first_id_since(session, now - timedelta(seconds=2 * longest_period()))
    if since is None:
        return 0
    rows = session.scalars(
        select(Call).where(
            Call.operation.in_(sorted(operations_with_long_windows())),
            Call.id >= since,
            Call.attempt_started_at >= now - timedelta(seconds=longest_period()),
        )
    ).all()
    keys = payloads.keys_for(session, vault, {row.tenant_id for row in rows})
    entries: dict[Bucket, list[tuple[float, str]]] = defaultdict(list)
    offset = dispatcher.redis_time() - now.timestamp()  # the logs run on Redis's clock
    for row in rows:
        assert row.attempt_started_at is not None  # selected so
        at = row.attempt_started_at.timestamp() + offset
        params = payloads.open_params(keys.get(row.tenant_id), row)
        for bucket in call_buckets(get_operation(row.operation), params, row.tenant_id):
            if bucket.name not in _SHORT_RULES:
                entries[bucket].append((at, job_id_for(row.id)))
    return sum(dispatcher.remember(bucket, calls) for bucket, calls in entries.items())


def _first_id_since(session: Session, when: datetime) -> int | None:
    """The lowest id of a call enqueued at or after ``when`` (None: no such call), by
    bisecting ids, which follow enqueue order: a few primary-key lookups, no scan."""
    low, high = session.execute(select(func.min(Call.id), func.max(Call.id))).one()
    if low is None or high is None:
        return None

    def enqueued_at(call_id: int) -> datetime | None:
        return session.scalar(
            select(Call.enqueued_at).where(Call.id >= call_id).order_by(Call.id).limit(1)
        )

    last = enqueued_at(high)
    if last is None or last < when:
        return None
    while low < high:
        middle = (low + high) // 2
        at = enqueued_at(middle)
        if at is not None and at >= when:
            high = middle
        else:
            low = middle + 1
    return int(low)


def reconcile_calls() -> dict[str, int | bool]:
    """Cron job: one reconciler run with this worker's runtime."""
    from billhive.workers.runtime import get_runtime

    rt = get_runtime()
    lease = timedelta(seconds=rt.settings.call_lease_seconds)
    with rt.database.session() as session:
        report = reconcile(session, rt.redis, rt.dispatcher, vault=rt.vault, lease=lease)
    return {
        "checked": report.checked,
        "recovered": report.recovered,
        "settled": report.settled,
        "loss_detected": report.loss_detected,
        "remembered": report.remembered,
    }
