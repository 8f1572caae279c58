"""`billhive worker` as a real process: new tenants without a restart, clean SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator

import pytest

from billhive.workers.calls import enqueue_call
from billhive.workers.control import workers_alive
from billhive.workers.models import Call, CallStatus
from billhive.workers.runtime import Runtime


def _env(runtime: Runtime) -> dict[str, str]:
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


@pytest.fixture
def worker_process(runtime: Runtime) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "billhive.cli", "worker", "--concurrency", "1"],
        env=_env(runtime),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while workers_alive(runtime.redis) < 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert workers_alive(runtime.redis) == 1, "the worker did not register with RQ"
    yield process
    if process.poll() is None:
        process.kill()
        process.wait()


def _wait_for(runtime: Runtime, call_id: int, timeout: float = 20) -> Call:
    deadline = time.monotonic() + timeout
    while True:
        with runtime.database.session() as session:
            call = session.get(Call, call_id)
            assert call is not None
            if (
                call.status not in (CallStatus.QUEUED, CallStatus.RUNNING)
                or time.monotonic() > deadline
            ):
                return call
        time.sleep(0.1)


def test_a_running_worker_serves_a_tenant_that_signed_up_after_it_started(
    runtime: Runtime, signed_up: Callable[[int], int], worker_process: subprocess.Popen[bytes]
) -> None:
    tenant = signed_up(1)  # after the worker started
    with runtime.database.session() as session:
        call_id = enqueue_call(
            tenant, "orders.list", {"page": 1}, session=session, redis=runtime.redis
        ).id
    assert _wait_for(runtime, call_id).status is CallStatus.SUCCEEDED
    later = signed_up(2)
    with runtime.database.session() as session:
        second = enqueue_call(
            later, "orders.list", {"page": 1}, session=session, redis=runtime.redis
        ).id
    assert _wait_for(runtime, second).status is CallStatus.SUCCEEDED


def test_sigterm_stops_the_worker_cleanly(
    runtime: Runtime, worker_process: subprocess.Popen[bytes]
) -> None:
    worker_process.send_signal(signal.SIGTERM)
    assert worker_process.wait(timeout=30) == 0
    assert workers_alive(runtime.redis) == 0
    output = worker_process.stdout.read().decode() if worker_process.stdout else ""
    assert "Traceback" not in output
