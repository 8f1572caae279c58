"""Shared constants and helpers of the worker tests (no tests here)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time

from rq import Queue

from billhive.workers.control import workers_alive
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


def worker_env(runtime: Runtime) -> dict[str, str]:
    settings = runtime.settings
    return {
        **os.environ,
        "BILLHIVE_ENV": "test",
        "BILLHIVE_DATABASE_URL": settings.effective_database_url,
        "BILLHIVE_REDIS_URL": settings.redis_url,
        "BILLHIVE_BILLBEE_BASE_URL": settings.billbee_base_url,
        "BILLHIVE_BILLBEE_API_KEY": settings.require("billbee_api_key"),
        "BILLHIVE_SECRET_KEY": settings.require("secret_key"),
        "BILLHIVE_VAULT_KEYS": settings.require("vault_keys"),
        "BILLHIVE_BLIND_INDEX_KEY": settings.require("blind_index_key"),
        "BILLHIVE_INSTANCE_PATH": str(settings.instance_path),
        "BILLHIVE_LOG_LEVEL": "WARNING",
    }


def start_worker_process(
    runtime: Runtime, concurrency: int, **settings: str
) -> subprocess.Popen[bytes]:
    """`billhive worker` as a real process on the test's database, Redis and sandbox
    (``settings``: more BILLHIVE_* variables by lower-case name), returned once its workers
    registered with RQ."""
    env = worker_env(runtime) | {f"BILLHIVE_{k.upper()}": v for k, v in settings.items()}
    process = subprocess.Popen(
        [sys.executable, "-m", "billhive.cli", "worker", "--concurrency", str(concurrency)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        # Its own process group: RQ's scheduler runs in a child process of the worker.
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while workers_alive(runtime.redis) < concurrency and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers_alive(runtime.redis) == concurrency, "the workers did not register with RQ"
    return process


def stop_worker_process(process: subprocess.Popen[bytes]) -> None:
    """Stop the worker and every process it started (SIGTERM, then SIGKILL)."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
