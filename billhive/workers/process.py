"""The ``billhive worker`` process: dispatcher-driven RQ workers for every tenant queue.

Each worker process takes the next job any tenant may start (billhive.workers.scheduling)
and also serves the system queue (verification, callbacks, housekeeping). Workers do not
fork a work horse per job by default: a Billbee call is I/O bound, and running it in the
worker process saves the fork and keeps the HTTP connection pool warm (see the README's
worker figures). ``--fork`` gives RQ's classic horse per job. Several processes keep
enough calls in flight (``--concurrency``); RQ's WorkerPool supervises them.
"""

from __future__ import annotations

import importlib
from typing import Any

from rq import Queue
from rq.worker_pool import WorkerPool

from billhive.config import Settings
from billhive.redisconn import redis_from_settings
from billhive.workers.queues import TenantJob
from billhive.workers.runtime import configured_dispatcher, get_runtime, warm_up
from billhive.workers.scheduling.worker import SimpleTenantWorker, TenantWorker

#: The queue of platform housekeeping jobs (verification, re-verification, cleanup).
SYSTEM_QUEUE = "billhive:system"
#: The modules of every job billhive enqueues, loaded before the workers start so the
#: start-up heap each worker freezes (TenantWorker.bootstrap) holds them; RQ would load
#: them at the first job, doubling what the garbage collector keeps walking.
JOB_MODULES = (
    "billhive.workers.jobs",
    "billhive.workers.reconcile",
    "billhive.workers.usage_reconcile",
    "billhive.workers.reverify",
    "billhive.workers.verification",
    "billhive.platform.api.delivery",
)


def worker_class_for(settings: Settings, *, fork: bool) -> type[Any]:
    """The worker class, with the dispatcher tuned by the settings.

    RQ's WorkerPool builds workers itself, so the options travel in a subclass.
    """
    base: type[Any] = TenantWorker if fork else SimpleTenantWorker

    class ConfiguredWorker(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("dispatcher", configured_dispatcher(kwargs["connection"], settings))
            super().__init__(*args, **kwargs)

        def prepare(self) -> None:
            warm_up()

        def wait_before_dequeue(self) -> float:
            # A job found the database unreachable: every next job would fail alike.
            return get_runtime().outage_wait()

    ConfiguredWorker.__name__ = ConfiguredWorker.__qualname__ = base.__name__
    return ConfiguredWorker


def run_worker(
    settings: Settings, *, burst: bool = False, concurrency: int = 1, fork: bool = False
) -> None:
    """Work every tenant queue and the system queue until stopped.

    SIGTERM (and Ctrl-C) let the current job finish; a job of a worker killed outright is
    re-queued at the head of its tenant's queue once its heartbeat expires. The workers run
    under RQ's WorkerPool, which starts a new one for each that dies (a Redis failure in
    RQ's own bookkeeping ends a worker); a single worker in burst mode runs by itself.
    """
    for module in JOB_MODULES:
        importlib.import_module(module)
    connection = redis_from_settings(settings)
    worker_class = worker_class_for(settings, fork=fork)
    if burst and concurrency <= 1:
        worker = worker_class([Queue(SYSTEM_QUEUE, connection=connection)], connection=connection)
        worker.work(burst=burst, with_scheduler=True, logging_level=settings.log_level)
        return
    pool = WorkerPool(
        [SYSTEM_QUEUE],
        connection=connection,
        num_workers=max(1, concurrency),
        worker_class=worker_class,
        job_class=TenantJob,
    )
    pool.start(burst=burst, logging_level=settings.log_level)
