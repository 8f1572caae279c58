"""`billhive worker` as a real process: new tenants without a restart, clean SIGTERM."""

from __future__ import annotations

import signal
import subprocess
import time
from collections.abc import Callable, Iterator

import pytest
from support.workers import start_worker_process, stop_worker_process

from billhive.delivery.send import deliver_callback
from billhive.workers.calls import CALL_JOB, STOCK_JOB, enqueue_call
from billhive.workers.control import workers_alive
from billhive.workers.models import Call, CallStatus
from billhive.workers.process import JOB_MODULES
from billhive.workers.reverify import reverify_tenant
from billhive.workers.runtime import Runtime
from billhive.workers.verification import verify_tenant


@pytest.fixture
def worker_process(runtime: Runtime) -> Iterator[subprocess.Popen[bytes]]:
    process = start_worker_process(runtime, 1)
    yield process
    stop_worker_process(process)


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
            tenant,
            "orders.list",
            {"page": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        ).id
    assert _wait_for(runtime, call_id).status is CallStatus.SUCCEEDED
    later = signed_up(2)
    with runtime.database.session() as session:
        second = enqueue_call(
            later,
            "orders.list",
            {"page": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
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


def test_every_job_billhive_enqueues_is_loaded_before_the_workers_start() -> None:
    paths = [CALL_JOB, STOCK_JOB]
    functions = [deliver_callback, reverify_tenant, verify_tenant]
    modules = {p.rsplit(".", 1)[0] for p in paths} | {f.__module__ for f in functions}
    assert modules <= set(JOB_MODULES)
