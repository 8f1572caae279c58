"""The ``billhive worker`` process."""

from __future__ import annotations

from rq import Queue, Worker

from billhive.config import Settings
from billhive.redisconn import redis_from_settings

#: The queue of platform housekeeping jobs (verification, re-verification, cleanup).
SYSTEM_QUEUE = "billhive:system"


def run_worker(settings: Settings, *, burst: bool = False) -> None:
    """Work the system queue until stopped (SIGTERM finishes the current job)."""
    connection = redis_from_settings(settings)
    queue = Queue(SYSTEM_QUEUE, connection=connection)
    Worker([queue], connection=connection).work(burst=burst, with_scheduler=False)
