"""Shared constants and helpers of the feed tests (no tests here)."""

from __future__ import annotations

from rq import Queue

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
