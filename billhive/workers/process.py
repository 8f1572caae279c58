"""The ``billhive worker`` process: dispatcher-driven RQ workers for every tenant queue.

Each worker process takes the next jobs any tenant may start (billhive.workers.scheduling)
and also serves the system queue (verification, callbacks, housekeeping). A process runs
many calls at once in threads (``ConcurrentTenantWorker``), as many as fill the key at the
measured Billbee latency, shared with the other processes; a Billbee call is I/O bound,
and threads keep one warm HTTP connection pool per process. ``--fork`` gives RQ's classic
horse per job, one call at a time. ``--concurrency`` is the number of processes (for
resilience and CPU, not throughput); RQ's WorkerPool supervises them.
"""

from __future__ import annotations

import contextlib
import importlib
import time
from collections.abc import Callable
from typing import Any

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.worker_pool import WorkerPool

from billhive.billbee.limits import KEY_LIMIT
from billhive.config import Settings
from billhive.redisconn import redis_from_settings
from billhive.workers.queues import TenantJob
from billhive.workers.runtime import configured_dispatcher, get_runtime, warm_up
from billhive.workers.scheduling.concurrent import ConcurrentTenantWorker, InFlightSizer
from billhive.workers.scheduling.worker import TenantWorker
from billhive.workers.stats import record_worker_load

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
    "billhive.delivery.send",
    "billhive.delivery.outbox",
    "billhive.delivery.events",
    "billhive.tokens.housekeeping",
    "billhive.feeds.fetch",
    "billhive.feeds.poller",
    "billhive.feeds.cron",
)


#: Seconds a count of the live worker processes is trusted (the sizer asks often).
PROCESS_COUNT_SECONDS = 10.0


def live_processes(connection: Redis) -> Callable[[], int]:
    """How many worker processes are alive (RQ's registrations), counted now and then."""
    cache = {"at": -PROCESS_COUNT_SECONDS, "count": 1}

    def count() -> int:
        now = time.monotonic()
        if now - cache["at"] >= PROCESS_COUNT_SECONDS:
            with contextlib.suppress(RedisError):
                cache["count"] = max(1, int(Worker.count(connection=connection)))
            cache["at"] = now
        return int(cache["count"])

    return count


def sizer_for(settings: Settings, connection: Redis) -> InFlightSizer:
    """The in-flight sizer of a worker process: the key's rate (less the headroom kept
    free), the measured latency, the live processes, the settings' bounds."""
    return InFlightSizer(
        rate=float(KEY_LIMIT - settings.dispatch_key_headroom),
        floor=min(settings.worker_min_in_flight, settings.worker_max_in_flight),
        ceiling=settings.worker_max_in_flight,
        processes=live_processes(connection),
        latency=lambda: get_runtime().call_latency(),
    )


def worker_class_for(settings: Settings, *, fork: bool) -> type[Any]:
    """The worker class, with the dispatcher tuned by the settings.

    RQ's WorkerPool builds workers itself, so the options travel in a subclass.
    """
    base: type[Any] = TenantWorker if fork else ConcurrentTenantWorker

    class ConfiguredWorker(base):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("dispatcher", configured_dispatcher(kwargs["connection"], settings))
            if not fork:
                kwargs.setdefault("sizer", sizer_for(settings, kwargs["connection"]))
            super().__init__(*args, **kwargs)

        def prepare(self) -> None:
            warm_up()

        def report_load(self, in_flight: int, target: int) -> None:
            rt = get_runtime()
            with contextlib.suppress(RedisError):
                record_worker_load(
                    rt.redis,
                    self.name,
                    in_flight=in_flight,
                    target=target,
                    latency=rt.call_latency(),
                )

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
