"""The delivery part's periodic jobs, registered by ``billhive scheduler``.

The workers package may not import this part (it sits above the workers), so the
scheduler command passes :func:`register_cron` to ``run_cron`` as an extra.
"""

from __future__ import annotations

from rq.cron import CronScheduler

from billhive.delivery.events import EVENT_COLLECT_INTERVAL_SECONDS, collect_feed_events
from billhive.delivery.outbox import (
    COLLECT_INTERVAL_SECONDS,
    collect_finished_calls,
    requeue_lost_callback_deliveries,
)
from billhive.tokens.housekeeping import purge_idempotency_keys
from billhive.workers.process import SYSTEM_QUEUE


def register_cron(scheduler: CronScheduler, *, interval: int = COLLECT_INTERVAL_SECONDS) -> None:
    """The API's periodic jobs on the system queue: collect finished calls every
    ``interval`` seconds and feed events every second, queue lost deliveries again every
    minute, purge old idempotency keys daily.

    ``billhive scheduler`` calls this (the workers package may not import this part).
    """
    scheduler.register(
        collect_finished_calls, SYSTEM_QUEUE, interval=interval, job_timeout=60, result_ttl=600
    )
    scheduler.register(purge_idempotency_keys, SYSTEM_QUEUE, cron="17 3 * * *", job_timeout=600)
    scheduler.register(
        collect_feed_events,
        SYSTEM_QUEUE,
        interval=EVENT_COLLECT_INTERVAL_SECONDS,
        job_timeout=60,
        result_ttl=60,
    )
    scheduler.register(
        requeue_lost_callback_deliveries, SYSTEM_QUEUE, cron="* * * * *", job_timeout=300
    )
