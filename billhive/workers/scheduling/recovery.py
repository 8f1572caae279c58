"""Finding jobs whose worker died, and keeping every tenant queue's registries tidy.

A dispatched job is recorded in flight with a lease (the dispatch time). A worker that
dies with SIGKILL never releases it, so the jobs ordered after it would wait for ever.
:func:`recover_abandoned` looks only at leases older than a grace period (one per job in
flight, so the work is bounded by the number of running workers, not tenants) and asks RQ
whether the job's execution is still alive: RQ's started-job registry keeps each
execution's heartbeat deadline. A dead job goes back to the head of its lane's queue, so
nothing is lost and nothing overtakes it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from redis import Redis
from rq import Queue
from rq.job import Job, JobStatus
from rq.registry import (
    FailedJobRegistry,
    FinishedJobRegistry,
    StartedJobRegistry,
)

from billhive.workers.queues import TenantQueue
from billhive.workers.scheduling.dispatcher import (
    RQ_QUEUE_KEY_PREFIX,
    TENANT_QUEUE_PREFIX,
    Dispatcher,
    Flight,
    scored_members,
    tenant_of_queue,
    tenant_queue_name,
)

#: RQ's failure text for a job whose worker vanished (set by StartedJobRegistry.cleanup,
#: which `rq info` and dashboards may trigger before the dispatcher looks).
ABANDONED_MARK = "AbandonedJobError"


@dataclass(frozen=True)
class Recovered:
    """One in-flight job the recovery dealt with: ``requeued`` or just ``released``."""

    tenant_id: str
    job_id: str
    action: str


def _execution_alive(queue: TenantQueue, job_id: str) -> bool:
    """Whether any execution of ``job_id`` still has a heartbeat deadline in the future."""
    registry = StartedJobRegistry(queue.name, connection=queue.connection)
    # RQ scores the registry with the worker's local clock, so compare with ours.
    now = time.time()
    entries = scored_members(queue.connection.zrange(registry.key, 0, -1, withscores=True))
    return any(entry.split(":", 1)[0] == job_id and deadline > now for entry, deadline in entries)


def _reset_to_queued(job: Job, queue: TenantQueue) -> None:
    """Undo the start of a job whose worker died: out of the registries, status queued."""
    started = StartedJobRegistry(queue.name, connection=queue.connection)
    failed = FailedJobRegistry(queue.name, connection=queue.connection)
    with queue.connection.pipeline() as pipe:
        entries = scored_members(queue.connection.zrange(started.key, 0, -1, withscores=True))
        for entry, _deadline in entries:
            if entry.split(":", 1)[0] == job.id:
                pipe.zrem(started.key, entry)
        pipe.zrem(failed.key, job.id)
        job.started_at = None
        job.ended_at = None
        job.set_status(JobStatus.QUEUED, pipeline=pipe)
        pipe.hset(job.key, mapping={"started_at": "", "ended_at": ""})
        pipe.execute()


def _abandoned(job: Job) -> bool:
    result = job.latest_result()
    return result is not None and ABANDONED_MARK in (result.exc_string or "")


def recover_abandoned(
    dispatcher: Dispatcher, *, grace: float, lock_seconds: float = 30.0
) -> list[Recovered]:
    """Requeue (at the head) or release in-flight jobs whose worker is gone.

    ``grace``: seconds a dispatch may take to show up in RQ's started registry; leases
    younger than that are not looked at. One worker at a time runs this (a Redis lock).
    """
    connection: Redis = dispatcher.connection
    lock = dispatcher.key("recovery-lock")
    if not connection.set(lock, "1", nx=True, px=int(lock_seconds * 1000)):
        return []
    try:
        now = dispatcher.redis_time()
        old = dispatcher.leases(older_than=now - grace)
        if not old:
            return []
        flights = dispatcher.flights()
        done: list[Recovered] = []
        for job_id, _since in old:
            flight = flights.get(job_id)
            if flight is None:
                connection.zrem(dispatcher.key("leases"), job_id)  # ended meanwhile
                continue
            outcome = _recover_one(dispatcher, job_id, flight)
            if outcome is not None:
                done.append(outcome)
        return done
    finally:
        connection.delete(lock)


def _recover_one(dispatcher: Dispatcher, job_id: str, flight: Flight) -> Recovered | None:
    tenant_id, token = flight.tenant_id, flight.token
    queue = TenantQueue(tenant_queue_name(tenant_id, flight.lane), connection=dispatcher.connection)
    job = (
        Job.fetch(job_id, connection=dispatcher.connection)
        if Job.exists(job_id, dispatcher.connection)
        else None
    )
    if job is None:
        dispatcher.release(tenant_id, token)
        return Recovered(tenant_id, job_id, "released")
    status = job.get_status()
    if status == JobStatus.STARTED and _execution_alive(queue, job_id):
        return None
    if status == JobStatus.STARTED or (status == JobStatus.FAILED and _abandoned(job)):
        _reset_to_queued(job, queue)
        dispatcher.requeue_head(tenant_id, token)
        return Recovered(tenant_id, job_id, "requeued")
    if status == JobStatus.QUEUED:
        # Popped but never started, or re-queued by RQ's own cleanup (at the tail).
        dispatcher.requeue_head(tenant_id, token)
        return Recovered(tenant_id, job_id, "requeued")
    dispatcher.release(tenant_id, token)
    return Recovered(tenant_id, job_id, "released")


def sweep_tenant_queues(dispatcher: Dispatcher, *, batch: int = 200) -> int:
    """Tidy the next ``batch`` tenant queues (a cursor shared by all workers), in one
    round trip.

    Expires old entries of RQ's finished and failed registries (RQ's workers only clean
    the queues they listen to) and re-activates a tenant whose queue got a job from
    outside the dispatcher (``rq requeue``). Abandoned started jobs are left to
    :func:`recover_abandoned`. Returns the number of queues looked at.
    """
    connection = dispatcher.connection
    cursor_key = dispatcher.key("sweep-cursor")
    cursor = int(connection.get(cursor_key) or 0)
    cursor, keys = connection.sscan(
        Queue.redis_queues_keys,
        cursor,
        match=f"{RQ_QUEUE_KEY_PREFIX}{TENANT_QUEUE_PREFIX}*",
        count=batch,
    )
    # RQ scores these registries with the local clock.
    expired = time.time()
    with connection.pipeline(transaction=False) as pipe:
        pipe.set(cursor_key, cursor)
        for raw in keys:
            name = (raw.decode() if isinstance(raw, bytes) else raw)[len(RQ_QUEUE_KEY_PREFIX) :]
            tenant_id = tenant_of_queue(name)
            if tenant_id is None:
                continue
            for registry_class in (FinishedJobRegistry, FailedJobRegistry):
                pipe.zremrangebyscore(registry_class(name, connection=connection).key, 0, expired)
            dispatcher.activate(tenant_id, pipeline=pipe)
        pipe.execute()
    return len(keys)
