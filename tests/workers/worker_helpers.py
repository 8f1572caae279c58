"""Shared constants and helpers of the worker tests (no tests here)."""

from __future__ import annotations

from rq import Queue

from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import Runtime
from billhive.workers.scheduling.worker import SimpleTenantWorker

API_KEY = "worker-test-key"
PASSWORD = "Sandb0x!Pass#1"
ACCOUNTS = 6


def account_username(n: int) -> str:
    """The sandbox username of account ``n`` (1-based)."""
    return f"shop{n}@example.com"


def work(runtime: Runtime) -> None:
    """Run one in-process worker until no tenant has work left."""
    worker = SimpleTenantWorker(
        [Queue(SYSTEM_QUEUE, connection=runtime.redis)], connection=runtime.redis
    )
    worker.work(burst=True, logging_level="WARNING")
