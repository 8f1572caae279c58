"""Periodic jobs, run by RQ's own cron scheduler (``billhive scheduler``)."""

from __future__ import annotations

from rq.cron import CronScheduler

from billhive.config import Settings
from billhive.redisconn import redis_from_settings


def register_cron_jobs(scheduler: CronScheduler, settings: Settings) -> None:
    """Register billhive's periodic jobs on ``scheduler``.

    Later features add their jobs here (credential re-verification, cleanup).
    """


def run_cron(settings: Settings) -> None:
    """Run the cron scheduler in the foreground until SIGINT/SIGTERM."""
    scheduler = CronScheduler(connection=redis_from_settings(settings), logging_level="WARNING")
    register_cron_jobs(scheduler, settings)
    scheduler.start()  # type: ignore[no-untyped-call]
