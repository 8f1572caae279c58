"""Operator controls and live figures of the tenant queues (dashboard, API, CLI).

Status changes go through the tenants' audit log; queue state goes through the dispatcher,
so a paused tenant's jobs stay queued in order and start again on resume.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from redis import Redis
from rq import Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.audit import set_status
from billhive.tenants.errors import TenantStateError
from billhive.tenants.lifecycle import may_pause, may_resume
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import get_tenant
from billhive.workers.models import Call, CallStatus
from billhive.workers.payloads import purge_tenant_payloads
from billhive.workers.scheduling.dispatcher import (
    RQ_QUEUE_KEY_PREFIX,
    TENANT_QUEUE_PREFIX,
    Dispatcher,
    lane_of_queue,
    tenant_queue_name,
)
from billhive.workers.scheduling.scripts import LANES
from billhive.workers.stats import key_budget_in_use

__all__ = [
    "TenantStateError",
    "key_budget_in_use",
    "pause_tenant",
    "purge_deleted_tenants",
    "purge_tenant",
    "queue_depth",
    "queue_depths",
    "reconcile_paused",
    "release_queue",
    "resume_tenant",
    "total_queued",
    "workers_alive",
]


def pause_tenant(
    session: Session, redis: Redis, tenant_id: int, *, actor: str, reason: str
) -> None:
    """Stop dispatching the tenant's calls; queued calls stay, in order (commits)."""
    tenant = get_tenant(session, tenant_id)
    if not may_pause(tenant.status):
        raise TenantStateError(f"a tenant in status {tenant.status.value} cannot be paused")
    set_status(session, tenant, TenantStatus.PAUSED, actor=actor, reason=reason, action="paused")
    session.commit()
    Dispatcher(redis).pause(str(tenant_id))


def resume_tenant(
    session: Session, redis: Redis, tenant_id: int, *, actor: str, reason: str
) -> None:
    """Dispatch a paused tenant's calls again (commits)."""
    tenant = get_tenant(session, tenant_id)
    if not may_resume(tenant.status):
        raise TenantStateError(
            f"a tenant in status {tenant.status.value} cannot be resumed; "
            "credentials_invalid tenants resume when new credentials verify"
        )
    set_status(session, tenant, TenantStatus.ACTIVE, actor=actor, reason=reason, action="resumed")
    session.commit()
    Dispatcher(redis).resume(str(tenant_id))


def _queue_key(tenant_id: int, lane: str) -> str:
    return RQ_QUEUE_KEY_PREFIX + tenant_queue_name(str(tenant_id), lane)


def lane_depths(redis: Redis, tenant_id: int) -> dict[str, int]:
    """Calls waiting in each lane of the tenant (not counting those in flight)."""
    pipe = redis.pipeline(transaction=False)
    for lane in LANES:
        pipe.llen(_queue_key(tenant_id, lane))
    return {lane: int(n) for lane, n in zip(LANES, pipe.execute(), strict=True)}


def queue_depth(redis: Redis, tenant_id: int) -> int:
    """Calls waiting in the tenant's queues (every lane; not counting those in flight)."""
    return sum(lane_depths(redis, tenant_id).values())


def queue_depths(redis: Redis, tenant_ids: Sequence[int]) -> dict[int, int]:
    """Queue depth of each tenant (every lane), in one round trip."""
    pipe = redis.pipeline(transaction=False)
    for tenant_id in tenant_ids:
        for lane in LANES:
            pipe.llen(_queue_key(tenant_id, lane))
    counts = iter(pipe.execute())
    return {t: sum(int(next(counts)) for _ in LANES) for t in tenant_ids}


def waiting_by_queue(redis: Redis) -> dict[tuple[str, str], int]:
    """Calls waiting in each non-empty tenant queue, by (tenant id, lane) (SCAN: fine for
    a dashboard or a scrape, not a hot path)."""
    prefix = RQ_QUEUE_KEY_PREFIX + TENANT_QUEUE_PREFIX
    keys = [
        k.decode() if isinstance(k, bytes) else str(k)
        for k in redis.scan_iter(match=prefix + "*", count=1000)
    ]
    if not keys:
        return {}
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    depths: dict[tuple[str, str], int] = {}
    for key, count in zip(keys, pipe.execute(), strict=True):
        found = lane_of_queue(key.removeprefix(RQ_QUEUE_KEY_PREFIX))
        if found is not None and int(count) > 0:
            depths[found] = int(count)
    return depths


def queued_per_lane(redis: Redis) -> dict[str, int]:
    """Calls waiting in every tenant queue, per lane."""
    per_lane = dict.fromkeys(LANES, 0)
    for (_, lane), count in waiting_by_queue(redis).items():
        per_lane[lane] += count
    return per_lane


def total_queued(redis: Redis) -> int:
    """Calls waiting in every tenant queue."""
    return sum(waiting_by_queue(redis).values())


def workers_alive(redis: Redis) -> int:
    """Workers registered with RQ (their registration expires when they stop beating)."""
    return int(Worker.count(connection=redis))


def reconcile_paused(session: Session, redis: Redis) -> int:
    """Resume the queues of tenants that are active again; returns how many.

    A tenant's queue is paused when its credentials fail or an operator pauses it; when its
    status becomes active again (reconnect, verification, resume) its queue must follow.
    The cron job runs this as a safety net behind the direct resumes.
    """
    dispatcher = Dispatcher(redis)
    paused = [
        m.decode() if isinstance(m, bytes) else str(m)
        for m in redis.smembers(dispatcher.key("paused"))
    ]
    ids = [int(p) for p in paused if p.isdigit()]
    if not ids:
        return 0
    active = session.scalars(
        select(Tenant.id).where(Tenant.id.in_(ids), Tenant.status == TenantStatus.ACTIVE)
    ).all()
    for tenant_id in active:
        dispatcher.resume(str(tenant_id))
    return len(active)


def purge_tenant(session: Session, redis: Redis, tenant_id: int) -> int:
    """After a tenant was deleted: cancel its queued calls, purge the payloads of all its
    calls, empty its queue, forget it.

    Returns how many calls were cancelled (commits). Safe to run more than once.
    """
    cancelled = session.execute(
        update(Call)
        .where(Call.tenant_id == tenant_id, Call.status == CallStatus.QUEUED)
        .values(
            status=CallStatus.CANCELLED,
            finished_at=utcnow(),
            error="tenant deleted",
            version=Call.version + 1,
        )
    ).rowcount  # type: ignore[attr-defined]
    # Unreadable already (the data key is shredded); purged too, so nothing is left.
    purge_tenant_payloads(session, tenant_id)
    session.commit()
    for lane in LANES:
        key = _queue_key(tenant_id, lane)
        for raw in redis.lrange(key, 0, -1):
            job_id = raw.decode() if isinstance(raw, bytes) else str(raw)
            with contextlib.suppress(NoSuchJobError):
                Job.fetch(job_id, connection=redis).delete(remove_from_queue=False)
        redis.delete(key)
    Dispatcher(redis).forget(str(tenant_id))
    return int(cancelled or 0)


def purge_deleted_tenants(session: Session, redis: Redis) -> int:
    """Purge every deleted tenant that still has queued calls; returns how many tenants."""
    deleted = session.scalars(
        select(Call.tenant_id)
        .join(Tenant, Tenant.id == Call.tenant_id)
        .where(Call.status == CallStatus.QUEUED, Tenant.status == TenantStatus.DELETED)
        .distinct()
    ).all()
    for tenant_id in deleted:
        purge_tenant(session, redis, tenant_id)
    return len(deleted)


def release_queue(redis: Redis, tenant_id: int) -> None:
    """Let an active tenant's queue run again (after reconnect or a successful verification)."""
    Dispatcher(redis).resume(str(tenant_id))
