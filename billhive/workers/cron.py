"""Periodic jobs, run by RQ's own cron scheduler (``billhive scheduler``).

Every job runs on the system queue and takes no arguments but plain data; RQ's
CronScheduler enqueues them, a worker runs them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from rq.cron import CronScheduler

from billhive.config import Settings
from billhive.redisconn import redis_from_settings
from billhive.workers import demo, reconcile, reverify
from billhive.workers.process import SYSTEM_QUEUE

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
        reconcile.queue_due_reconciliations,
        SYSTEM_QUEUE,
        interval=reconcile.CRON_INTERVAL_SECONDS,
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
    if settings.demo_stream:
        scheduler.register(
            demo.demo_tick, SYSTEM_QUEUE, interval=demo.TICK_SECONDS, name="demo-stream"
        )


def run_cron(settings: Settings, extra: Iterable[Callable[[CronScheduler], None]] = ()) -> None:
    """Run the cron scheduler in the foreground until SIGINT/SIGTERM.

    ``extra`` registers the jobs of parts above the workers (the API's callback delivery),
    which this package may not import.
    """
    scheduler = CronScheduler(connection=redis_from_settings(settings), logging_level="WARNING")
    register_cron_jobs(scheduler, settings)
    for register in extra:
        register(scheduler)
    scheduler.start()  # type: ignore[no-untyped-call]
