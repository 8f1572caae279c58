"""Periodic jobs, run by RQ's own cron scheduler (``billhive scheduler``).

Every job runs on the system queue and takes no arguments but plain data; RQ's
CronScheduler enqueues them, a worker runs them. Jobs with an interval run once as soon as
the scheduler starts (the reconciler among them), then every interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from redis.exceptions import RedisError
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

from billhive.config import Settings
from billhive.logs import get_logger
from billhive.redisconn import redis_from_settings
from billhive.workers import demo, reconcile, retention, reverify, usage_reconcile
from billhive.workers.process import SYSTEM_QUEUE

log = get_logger(__name__)
#: Longest wait between attempts to reach Redis again.
REDIS_RETRY_MAX_SECONDS = 5.0

PENDING_SWEEP_SECONDS = 300
RECONCILE_SECONDS = 30


def reconcile_paused_queues() -> int:
    """Cron job: resume the queues of tenants that became active again, and empty the
    queues of deleted tenants (whatever path deleted them)."""
    from billhive.workers.control import purge_deleted_tenants, reconcile_paused
    from billhive.workers.runtime import get_runtime

    rt = get_runtime()
    with rt.database.session() as session:
        purged = purge_deleted_tenants(session, rt.redis)
        return reconcile_paused(session, rt.redis) + purged


def register_cron_jobs(scheduler: CronScheduler, settings: Settings) -> None:
    """Register billhive's periodic jobs on ``scheduler``."""
    from billhive.workers.verification import sweep_pending_verifications

    scheduler.register(
        reverify.queue_due_reverifications,
        SYSTEM_QUEUE,
        interval=reverify.CRON_INTERVAL_SECONDS,
        name="reverify-active-tenants",
    )
    scheduler.register(
        usage_reconcile.queue_due_reconciliations,
        SYSTEM_QUEUE,
        interval=usage_reconcile.CRON_INTERVAL_SECONDS,
        name="reconcile-billbee-usage",
    )
    scheduler.register(
        sweep_pending_verifications,
        SYSTEM_QUEUE,
        interval=PENDING_SWEEP_SECONDS,
        name="sweep-pending-verifications",
    )
    scheduler.register(
        reconcile_paused_queues,
        SYSTEM_QUEUE,
        interval=RECONCILE_SECONDS,
        name="reconcile-paused-queues",
    )
    scheduler.register(
        reconcile.reconcile_calls,
        SYSTEM_QUEUE,
        interval=settings.reconcile_interval_seconds,
        name="reconcile-calls",
        job_timeout=300,
        result_ttl=600,
    )
    scheduler.register(
        retention.purge_payloads,
        SYSTEM_QUEUE,
        interval=retention.RETENTION_INTERVAL_SECONDS,
        name="purge-call-payloads",
        job_timeout=600,
        result_ttl=600,
    )
    if settings.demo_stream:
        scheduler.register(
            demo.demo_tick, SYSTEM_QUEUE, interval=demo.TICK_SECONDS, name="demo-stream"
        )


class ResilientCronScheduler(CronScheduler):
    """RQ's cron scheduler, riding through Redis outages: RQ's own loop ends the process
    at the first connection error. This one waits for Redis and goes on; jobs that fell
    due meanwhile are enqueued once it answers (each job's next time is kept in memory)."""

    def start(self) -> None:
        """Run until SIGINT/SIGTERM, starting RQ's loop again after each Redis failure."""
        pause = 0.5
        while True:
            try:
                super().start()  # type: ignore[no-untyped-call]
                return
            except RedisError as exc:
                log.warning("cron_redis_unavailable", error=type(exc).__name__)
            try:
                time.sleep(pause)
            except (StopRequested, KeyboardInterrupt):
                return  # a stop asked for while waiting for Redis
            pause = min(pause * 2, REDIS_RETRY_MAX_SECONDS)


def run_cron(settings: Settings, extra: Iterable[Callable[[CronScheduler], None]] = ()) -> None:
    """Run the cron scheduler in the foreground until SIGINT/SIGTERM.

    ``extra`` registers the jobs of parts above the workers (the API's callback delivery),
    which this package may not import.
    """
    scheduler = ResilientCronScheduler(
        connection=redis_from_settings(settings), logging_level="WARNING"
    )
    register_cron_jobs(scheduler, settings)
    for register in extra:
        register(scheduler)
    scheduler.start()
