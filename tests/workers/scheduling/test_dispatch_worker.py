"""Dispatching RQ workers in real processes: new tenants without restart, RQ's bookkeeping,
retries in order, and no job lost when a worker is killed with SIGKILL."""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import Queue, Retry, Worker, get_current_job
from rq.job import Job, JobStatus
from rq.registry import FinishedJobRegistry

from billhive.workers.queues import TenantQueue, enqueue_for_tenant
from billhive.workers.scheduling.dispatcher import Dispatcher
from billhive.workers.scheduling.worker import SimpleTenantWorker

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
MODULE = Path(__file__).stem

WORKER_SCRIPT = """
import sys
from redis import Redis
from billhive.workers.scheduling.worker import TenantWorker

connection = Redis.from_url(sys.argv[1])
TenantWorker(
    connection=connection,
    job_monitoring_interval=1,
    heartbeat_grace=1,
    lease_grace=1.0,
    recovery_interval=0.3,
).work(logging_level="WARNING")
"""


# -- job functions (run inside the worker's work horse) --------------------------------


def record(label: str) -> str:
    """Append ``label`` to the list ``done``."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush("done", label)
    return label.upper()


def fail_once(label: str) -> None:
    """Fail on the first attempt, then record."""
    job = get_current_job()
    assert job is not None
    if job.connection.incr(f"attempts:{label}") == 1:
        raise RuntimeError("first attempt fails")
    job.connection.rpush("done", label)


def hang_once(label: str) -> None:
    """On the first attempt publish the horse's pid and hang; afterwards record."""
    job = get_current_job()
    assert job is not None
    if job.connection.incr(f"attempts:{label}") == 1:
        job.connection.set("horse-pid", os.getpid())
        time.sleep(60)
    job.connection.rpush("done", label)


# -- helpers ---------------------------------------------------------------------------


def wait_until(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        time.sleep(0.05)


def done(redis: Redis) -> list[str]:
    return [item.decode() for item in redis.lrange("done", 0, -1)]


@pytest.fixture
def start_worker(redis_url: str, tmp_path: Path) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    env.pop("BILLHIVE_REDIS_URL", None)
    started: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = subprocess.Popen([sys.executable, str(script), redis_url], env=env, cwd=ROOT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def enqueue(redis: Redis, tenant: str, func: str, label: str, **options: object) -> Job:
    return enqueue_for_tenant(redis, tenant, f"{MODULE}.{func}", args=(label,), **options)


# -- tests -----------------------------------------------------------------------------


def test_a_running_worker_picks_up_a_tenant_that_did_not_exist_when_it_started(
    redis_client: Redis, start_worker
):
    start_worker()
    enqueue(redis_client, "first", "record", "one")
    wait_until(lambda: done(redis_client) == ["one"])
    enqueue(redis_client, "brand-new", "record", "two")
    wait_until(lambda: done(redis_client) == ["one", "two"])


def test_rq_records_the_result_and_the_finished_registry_as_usual(
    redis_client: Redis, start_worker
):
    start_worker()
    job = enqueue(redis_client, "t1", "record", "x")
    wait_until(lambda: job.get_status(refresh=True) == JobStatus.FINISHED)
    queue = TenantQueue.for_tenant("t1", redis_client)
    assert job.return_value(refresh=True) == "X"
    assert job.id in FinishedJobRegistry(queue=queue).get_job_ids()


def test_a_retried_job_runs_again_before_the_tenants_later_jobs(redis_client: Redis, start_worker):
    enqueue(redis_client, "t1", "fail_once", "first", retry=Retry(max=1))
    enqueue(redis_client, "t1", "record", "second")
    start_worker()
    wait_until(lambda: len(done(redis_client)) == 2)
    assert done(redis_client) == ["first", "second"]


def test_jobs_of_several_tenants_all_run_in_their_tenants_order(redis_client: Redis, start_worker):
    for n in range(5):
        for tenant in ("a", "b", "c"):
            enqueue(redis_client, tenant, "record", f"{tenant}{n}")
    start_worker()
    start_worker()
    wait_until(lambda: len(done(redis_client)) == 15)
    for tenant in ("a", "b", "c"):
        assert [x for x in done(redis_client) if x[0] == tenant] == [
            f"{tenant}{n}" for n in range(5)
        ]


def test_a_job_whose_worker_was_killed_runs_again_before_the_tenants_next_job(
    redis_client: Redis, start_worker
):
    victim = start_worker()
    job = enqueue(redis_client, "t1", "hang_once", "first")
    enqueue(redis_client, "t1", "record", "second")
    wait_until(lambda: redis_client.get("horse-pid") is not None)
    os.kill(int(redis_client.get("horse-pid")), signal.SIGKILL)
    victim.send_signal(signal.SIGKILL)
    victim.wait()
    start_worker()
    wait_until(lambda: len(done(redis_client)) == 2, timeout=30)
    assert done(redis_client) == ["first", "second"]
    assert job.get_status(refresh=True) == JobStatus.FINISHED


def back_off_once(label: str) -> None:
    """On the first attempt ask for a 1 s backoff and fail (RQ retries at once)."""
    job = get_current_job()
    assert job is not None
    if job.connection.incr(f"attempts:{label}") == 1:
        Dispatcher(job.connection).defer(job.id, 1.0)
        raise RuntimeError("server error, try later")
    job.connection.rpush("done", label)


def test_a_job_backing_off_keeps_its_place_and_its_tenants_order(redis_client: Redis, start_worker):
    enqueue(redis_client, "t1", "back_off_once", "first", retry=Retry(max=1))
    enqueue(redis_client, "t1", "record", "second")
    enqueue(redis_client, "t2", "record", "other")
    start_worker()
    wait_until(lambda: len(done(redis_client)) == 3)
    assert done(redis_client) == ["other", "first", "second"]


def test_a_burst_worker_runs_every_tenants_jobs_in_order_and_stops(redis_client: Redis):
    for n in range(3):
        for tenant in ("a", "b"):
            enqueue(redis_client, tenant, "record", f"{tenant}{n}")
    worked = SimpleTenantWorker(connection=redis_client).work(burst=True, logging_level="WARNING")
    assert worked
    assert [x for x in done(redis_client) if x[0] == "a"] == ["a0", "a1", "a2"]
    assert [x for x in done(redis_client) if x[0] == "b"] == ["b0", "b1", "b2"]


def test_a_worker_also_serves_its_plain_queues(redis_client: Redis):
    system = Queue("billhive:system", connection=redis_client)
    system.enqueue(f"{MODULE}.record", "system")
    enqueue(redis_client, "a", "record", "tenant")
    SimpleTenantWorker([system], connection=redis_client).work(burst=True, logging_level="WARNING")
    assert sorted(done(redis_client)) == ["system", "tenant"]


def test_busy_tenants_do_not_starve_the_plain_queues(redis_client: Redis):
    for n in range(5):
        enqueue(redis_client, f"t{n}", "record", f"tenant{n}")
    system = Queue("billhive:system", connection=redis_client)
    system.enqueue(f"{MODULE}.record", "system")
    SimpleTenantWorker([system], connection=redis_client).work(burst=True, logging_level="WARNING")
    assert done(redis_client)[0] == "system"


def test_an_idle_worker_stops_after_its_max_idle_time(redis_client: Redis):
    worker = SimpleTenantWorker(connection=redis_client)
    assert worker.work(max_idle_time=1, logging_level="WARNING") is False


class _StoppedWhileStarting(SimpleTenantWorker):
    """A worker that is sent SIGTERM right after it registered with RQ: the window before
    RQ installs its own stop handlers."""

    def register_birth(self) -> None:
        super().register_birth()
        os.kill(os.getpid(), signal.SIGTERM)


def test_a_worker_told_to_stop_while_starting_exits_cleanly_and_takes_no_job(
    redis_client: Redis,
):
    enqueue(redis_client, "a", "record", "kept")
    signals: list[int] = []
    # Stands in for the default action (which would end the test run) if the worker
    # left SIGTERM unhandled while starting.
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: signals.append(signum))
    try:
        worker = _StoppedWhileStarting(connection=redis_client)
        worked = worker.work(burst=True, with_scheduler=True, logging_level="WARNING")
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert signals == []
    assert worked is False
    assert done(redis_client) == []
    assert TenantQueue.for_tenant("a", redis_client).count == 1


def test_a_started_worker_keeps_its_start_up_objects_out_of_the_collector(
    redis_client: Redis,
):
    gc.unfreeze()
    try:
        SimpleTenantWorker(connection=redis_client).work(burst=True, logging_level="WARNING")
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


class _Preparing(SimpleTenantWorker):
    """Notes when it prepared, in the same list the jobs record into."""

    def prepare(self) -> None:
        self.connection.rpush("done", "prepared")


def test_a_worker_prepares_before_it_takes_its_first_job(redis_client: Redis):
    enqueue(redis_client, "a", "record", "first")
    _Preparing(connection=redis_client).work(burst=True, logging_level="WARNING")
    assert done(redis_client) == ["prepared", "first"]


STOPPED_WHILE_PREPARING = """
import os, signal, sys, time
from redis import Redis
from rq import Queue
from billhive.workers.scheduling.worker import SimpleTenantWorker

class Worker(SimpleTenantWorker):
    def prepare(self):
        os.kill(os.getpid(), signal.SIGTERM)

# Forked processes start slowly (the job runtime's fork hook does real work), so the
# worker's stop reaches its scheduler before the scheduler installs its own handlers.
os.register_at_fork(after_in_child=lambda: time.sleep(1.0))
connection = Redis.from_url(sys.argv[1])
Worker([Queue("billhive:system", connection=connection)], connection=connection).work(
    with_scheduler=True, logging_level="WARNING"
)
"""


def test_a_worker_stopped_while_preparing_also_stops_its_new_scheduler(
    redis_url: str, tmp_path: Path
) -> None:
    # The scheduler process is forked after the stop and told to end at once, before it
    # installs its own handlers: it must not outlive the worker's wait for it.
    script = tmp_path / "stopped.py"
    script.write_text(STOPPED_WHILE_PREPARING)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(
        [sys.executable, str(script), redis_url], env=env, cwd=ROOT, start_new_session=True
    )
    try:
        assert process.wait(timeout=30) == 0
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()


def test_a_heartbeat_costs_one_round_trip(
    redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = SimpleTenantWorker(connection=redis_client)
    worker.register_birth()
    single_commands: list[object] = []
    send_one = redis_client.execute_command

    def counting(*args: object, **options: object) -> object:
        single_commands.append(args[0])
        return send_one(*args, **options)

    monkeypatch.setattr(redis_client, "execute_command", counting)
    worker.heartbeat()
    assert single_commands == []
    assert redis_client.hget(worker.key, "last_heartbeat") is not None
    assert redis_client.ttl(worker.key) > 0


def test_a_worker_that_redis_forgot_registers_again_at_its_next_heartbeat(
    redis_client: Redis,
) -> None:
    # Worker.count, not billhive's own helper: this module is imported by every forked work
    # horse of these tests, and must stay light.
    worker = SimpleTenantWorker(connection=redis_client)
    worker.register_birth()
    assert Worker.count(connection=redis_client) == 1
    redis_client.flushdb()  # Redis restarted empty
    assert Worker.count(connection=redis_client) == 0
    worker.heartbeat()
    assert Worker.count(connection=redis_client) == 1
    assert redis_client.hget(worker.key, "birth") is not None
