"""Per-tenant RQ queues whose jobs are dispatched by the fair, limit-aware scheduler.

Each tenant has its own RQ queue ``billhive:t:<tenant id>``: the job ids sit in RQ's own
list, so ``rq info``, ``Queue.count``, job inspection and RQ's registries (started,
finished, failed), results and retries work as usual. Only the push is different: it goes
through :class:`~billhive.workers.scheduling.dispatcher.Dispatcher`, which also makes the
tenant ready, and a retried in-flight job goes back to the head of its queue.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from contextlib import nullcontext
from functools import cached_property
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry

from billhive.billbee.limits import Bucket
from billhive.workers.scheduling.dispatcher import (
    Dispatcher,
    shared_dispatcher,
    tenant_of_queue,
    tenant_queue_name,
)


class TenantQueue(Queue):
    """An RQ queue that belongs to one tenant; pushes go through the dispatcher."""

    @classmethod
    def for_tenant(cls, tenant_id: str, connection: Redis, **kwargs: Any) -> TenantQueue:
        """The queue of ``tenant_id`` (no Redis call; queues exist while they hold jobs)."""
        return cls(tenant_queue_name(tenant_id), connection=connection, **kwargs)

    @property
    def tenant_id(self) -> str | None:
        """The tenant this queue belongs to (None when the name is not a tenant queue's)."""
        return tenant_of_queue(self.name)

    @cached_property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher sharing this queue's Redis connection."""
        return shared_dispatcher(self.connection)

    def push_job_id(
        self, job_id: str, pipeline: Pipeline | None = None, at_front: bool = False
    ) -> None:
        """Push through the dispatcher so the tenant becomes ready (RQ calls this for
        enqueues, retries and requeues alike)."""
        tenant = self.tenant_id
        if tenant is None:
            super().push_job_id(job_id, pipeline=pipeline, at_front=at_front)
            return
        self.dispatcher.push(tenant, job_id, at_front=at_front, pipeline=pipeline)


def enqueue_for_tenant(
    connection: Redis,
    tenant_id: str,
    func: str,
    *,
    args: Iterable[Any] = (),
    kwargs: dict[str, Any] | None = None,
    buckets: Iterable[Bucket] = (),
    job_id: str | None = None,
    pipeline: Pipeline | None = None,
    **options: Any,
) -> Job:
    """Put one job on the tenant's queue, with the limit buckets it will consume.

    ``func`` is the job function's import path (``billhive.workers.process.run_call``).
    ``args``/``kwargs`` must be ids and plain data (never credentials). ``buckets`` come
    from ``billhive.billbee.limits.buckets_for``; a job without buckets calls no API and
    is only ordered and shared fairly. ``options`` are RQ's (``retry``, ``result_ttl``,
    ``timeout``, ``meta`` ...); ``depends_on``, ``unique``, RQ's ``rate_limit`` and
    retry intervals are refused (they push outside the dispatcher). With ``pipeline`` the
    job joins that MULTI/EXEC and the caller executes it (several jobs, one round trip).
    """
    for unsupported in ("depends_on", "unique", "rate_limit", "at_front"):
        if options.get(unsupported):
            raise ValueError(f"enqueue_for_tenant does not support {unsupported!r}")
    retry = options.get("retry")
    if retry is not None and any(getattr(retry, "intervals", [])):
        # RQ's scheduler would re-enqueue at the tail, behind the tenant's later jobs.
        raise ValueError(
            "Retry intervals would reorder the tenant's jobs; retry at once and call "
            "Dispatcher.defer(job_id, seconds) for a backoff"
        )
    queue = TenantQueue.for_tenant(tenant_id, connection)
    job_id = job_id or uuid.uuid4().hex
    with connection.pipeline() if pipeline is None else nullcontext(pipeline) as pipe:
        job: Job = queue.enqueue_call(
            func, args=tuple(args), kwargs=kwargs or {}, job_id=job_id, pipeline=pipe, **options
        )
        # Same MULTI/EXEC as the push: the pop script never sees the job without buckets.
        queue.dispatcher.set_buckets(job_id, buckets, pipeline=pipe)
        if pipeline is None:
            pipe.execute()
    return job


def requeue_failed(connection: Redis, job_id: str, *, at_front: bool = False) -> Job:
    """Requeue a failed tenant job (an admin's action) and make its tenant ready.

    RQ's own requeue pushes with a plain Queue, which the dispatcher would only notice
    at its next sweep of that queue.
    """
    job = Job.fetch(job_id, connection=connection)
    queue = TenantQueue(job.origin, connection=connection)
    FailedJobRegistry(queue=queue).requeue(job, at_front=at_front)
    if queue.tenant_id is not None:
        queue.dispatcher.activate(queue.tenant_id)
    return job
