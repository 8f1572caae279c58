"""The feeds' periodic jobs, registered by ``billhive scheduler`` (as an extra: the
workers package does not import this part)."""

from __future__ import annotations

from datetime import timedelta

from rq.cron import CronScheduler

from billhive.feeds.poller import TICK_SECONDS, poll_feeds
from billhive.feeds.service import purge_events
from billhive.feeds.webhooks import sync_feed_webhooks
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import get_runtime

#: How often webhooks are registered for newly active tenants (and removed).
WEBHOOK_SYNC_SECONDS = 5


def purge_feed_events() -> int:
    """Cron job: delete feed events past the retention; returns how many."""
    rt = get_runtime()
    with rt.database.session() as session:
        return purge_events(
            session, older_than=timedelta(days=rt.settings.feed_event_retention_days)
        )


def register_cron(scheduler: CronScheduler) -> None:
    """Poll due feeds every tick; register and remove webhooks every few seconds; purge
    old events daily."""
    scheduler.register(
        poll_feeds, SYSTEM_QUEUE, interval=TICK_SECONDS, job_timeout=60, result_ttl=60
    )
    scheduler.register(
        sync_feed_webhooks,
        SYSTEM_QUEUE,
        interval=WEBHOOK_SYNC_SECONDS,
        job_timeout=60,
        result_ttl=60,
    )
    scheduler.register(purge_feed_events, SYSTEM_QUEUE, cron="41 3 * * *", job_timeout=600)
