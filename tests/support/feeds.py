"""Shared constants and helpers of the feed tests (no tests here)."""

from __future__ import annotations

from rq import Queue

from billhive.config import Settings
from billhive.feeds.models import FeedWebhook, WebhookState
from billhive.feeds.webhooks import sync_webhooks
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import Runtime
from billhive.workers.scheduling.worker import SimpleTenantWorker

FEED_API_KEY = "feed-test-key"
FEED_PASSWORD = "Sandb0x!Pass#1"


def feed_username(n: int) -> str:
    """The sandbox username of account ``n``."""
    return f"feedshop{n}@example.com"


def work_all(runtime: Runtime) -> None:
    """Run one in-process worker until no tenant has work left."""
    worker = SimpleTenantWorker(
        [Queue(SYSTEM_QUEUE, connection=runtime.redis)], connection=runtime.redis
    )
    worker.work(burst=True, logging_level="WARNING")


#: Sync rounds a registration takes at most here: list, a few stray deletions, create.
REGISTER_ROUNDS = 8


def register_webhook(
    runtime: Runtime, tenant_id: int, settings: Settings | None = None
) -> FeedWebhook:
    """Run the webhook sync and the worker until the tenant's webhook is registered
    (listing, deleting strays, creating: one step per sync); returns the row, detached."""
    for _ in range(REGISTER_ROUNDS):
        with runtime.database.session() as session:
            sync_webhooks(session, runtime.redis, settings or runtime.settings, runtime.vault)
        work_all(runtime)
        with runtime.database.session() as session:
            row = session.get(FeedWebhook, tenant_id)
            if row is not None and row.state is WebhookState.REGISTERED:
                session.expunge(row)
                return row
    raise AssertionError(f"tenant {tenant_id}'s webhook was not registered")
