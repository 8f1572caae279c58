"""Per-tenant RQ queues whose jobs are dispatched by the fair, limit-aware scheduler.

Each tenant has an RQ queue per lane: ``billhive:t:<tenant id>`` (interactive),
``billhive:t:<tenant id>:bulk`` and ``...:background``. The job ids sit in RQ's own lists,
so ``rq info``, ``Queue.count``, job inspection and RQ's registries (started, finished,
failed), results and retries work as usual. Only the push is different: it goes through
:class:`~billhive.workers.scheduling.dispatcher.Dispatcher`, which draws the job's place in
the tenant's order and makes the tenant ready, and a retried in-flight job goes back to the
head of its lane.
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
from rq.utils import decode_redis_hash

from billhive.billbee.limits import Bucket
from billhive.workers.scheduling.dispatcher import (
    INTERACTIVE,
    WRITE,
    Dispatcher,
    Order,
    lane_of_queue,
    shared_dispatcher,
    tenant_queue_name,
)
from billhive.workers.scheduling.scripts import BUCKETS_FIELD, ORDER_FIELD

#: Fields of a job's hash that RQ does not know and TenantJob keeps across RQ's saves.
_OWN_FIELDS = (BUCKETS_FIELD, ORDER_FIELD)


class TenantJob(Job):
    """An RQ job that keeps its limit buckets and its place in the order whenever RQ
    saves it.

    Both live in fields of the job's hash that RQ does not know. RQ's own saves (a retry
    re-queues a job by saving it whole) would not write them, so a job whose hash Redis
    lost while it ran would come back without limits; this class carries the fields it
    was loaded with into every save.
    """

    _own: dict[str, Any] | None = None

    def restore(self, raw_data: Any) -> Any:
        """RQ's restore, keeping billhive's fields."""
        restored = super().restore(raw_data)
        fields = decode_redis_hash(raw_data)
        self._own = {name: fields[name] for name in _OWN_FIELDS if name in fields}
        return restored

    def to_dict(self, include_meta: bool = True, include_result: bool = True) -> dict[str, Any]:
        """RQ's fields plus billhive's, as this job was loaded with them."""
        fields: dict[str, Any] = super().to_dict(include_meta, include_result)
        fields.update(self._own or {})
        return fields


class TenantQueue(Queue):
    """An RQ queue of one tenant's lane; pushes go through the dispatcher.

    ``order``: the place in the tenant's order of the jobs this instance enqueues (None:
    a job keeps the one it has, as RQ's retries and requeues do). ``repair`` (the
    reconciler's): a job already queued or in flight is not pushed again.
    """

    repair = False
    order: Order | None = None

    @classmethod
    def for_tenant(
        cls, tenant_id: str, connection: Redis, lane: str = INTERACTIVE, **kwargs: Any
    ) -> TenantQueue:
        """The queue of ``tenant_id``'s lane (no Redis call; queues exist while they hold
        jobs)."""
        return cls(tenant_queue_name(tenant_id, lane), connection=connection, **kwargs)

    @property
    def tenant_id(self) -> str | None:
        """The tenant this queue belongs to (None when the name is not a tenant queue's)."""
        found = lane_of_queue(self.name)
        return found[0] if found else None

    @property
    def lane(self) -> str:
        """The lane this queue holds."""
        found = lane_of_queue(self.name)
        return found[1] if found else INTERACTIVE

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
        self.dispatcher.push(
            tenant,
            job_id,
            lane=self.lane,
            order=self.order,
            at_front=at_front,
            if_absent=self.repair,
            pipeline=pipeline,
        )


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
    lane: str = INTERACTIVE,
    order: Order = WRITE,
    **options: Any,
) -> Job:
    """Put one job on the tenant's queue of ``lane``, with the limit buckets it will
    consume and its place in the tenant's order (``order``: by default a write ordered
    after every earlier write of the tenant, i.e. strictly in turn).

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
    queue = TenantQueue.for_tenant(tenant_id, connection, lane)
    queue.order = order
    return _enqueue(
        queue,
        func,
        args=args,
        kwargs=kwargs,
        buckets=buckets,
        job_id=job_id or uuid.uuid4().hex,
        pipeline=pipeline,
        **options,
    )


def repair_for_tenant(
    connection: Redis,
    tenant_id: str,
    func: str,
    *,
    job_id: str,
    at_front: bool,
    pipeline: Pipeline,
    lane: str,
    order: Order,
    args: Iterable[Any] = (),
    buckets: Iterable[Bucket] = (),
    **options: Any,
) -> Job:
    """The reconciler's push of a job Redis lost: like :func:`enqueue_for_tenant`, at the
    head of its lane (``at_front``: a call that was running) or the tail, and no second
    copy of a job still queued or in flight. The caller executes ``pipeline``."""
    queue = TenantQueue.for_tenant(tenant_id, connection, lane)
    queue.repair = True
    queue.order = order
    return _enqueue(
        queue,
        func,
        args=args,
        buckets=buckets,
        job_id=job_id,
        pipeline=pipeline,
        at_front=at_front,
        **options,
    )


def _enqueue(
    queue: TenantQueue,
    func: str,
    *,
    args: Iterable[Any],
    buckets: Iterable[Bucket],
    job_id: str,
    pipeline: Pipeline | None,
    kwargs: dict[str, Any] | None = None,
    **options: Any,
) -> Job:
    retry = options.get("retry")
    if retry is not None and any(getattr(retry, "intervals", [])):
        # RQ's scheduler would re-enqueue at the tail, behind the tenant's later jobs.
        raise ValueError(
            "Retry intervals would reorder the tenant's jobs; retry at once and call "
            "Dispatcher.defer(job_id, seconds) for a backoff"
        )
    connection = queue.connection
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
