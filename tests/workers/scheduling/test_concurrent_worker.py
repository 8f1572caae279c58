"""One worker process carrying many calls at once, with every guarantee of one at a time."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from redis import Redis
from rq import get_current_job

from billhive.workers.queues import enqueue_for_tenant
from billhive.workers.scheduling.concurrent import InFlightSizer
from billhive.workers.scheduling.dispatcher import READ, WRITE, Order

HERE = Path(__file__).parent
ROOT = HERE.parents[2]
MODULE = Path(__file__).stem

WORKER_SCRIPT = """
import sys
from redis import Redis
from billhive.workers.scheduling.concurrent import ConcurrentTenantWorker, InFlightSizer

connection = Redis.from_url(sys.argv[1])
ConcurrentTenantWorker(
    connection=connection,
    sizer=InFlightSizer(floor=int(sys.argv[2]), ceiling=int(sys.argv[2])),
    job_monitoring_interval=2,
    heartbeat_grace=1,
    lease_grace=1.0,
    recovery_interval=0.3,
).work(burst=sys.argv[3] == "burst", logging_level="WARNING")
"""


def take_time(label: str, seconds: float) -> None:
    """Record when this job started and ended (in a worker thread)."""
    job = get_current_job()
    assert job is not None
    job.connection.rpush("events", f"start {label} {time.time():.6f}")
    time.sleep(seconds)
    job.connection.rpush("events", f"end {label} {time.time():.6f}")


def events(redis: Redis) -> dict[str, tuple[float, float]]:
    spans: dict[str, list[float]] = {}
    for raw in redis.lrange("events", 0, -1):
        kind, label, at = raw.decode().split()
        spans.setdefault(label, [0.0, 0.0])[0 if kind == "start" else 1] = float(at)
    return {label: (s[0], s[1]) for label, s in spans.items()}


def most_at_once(spans: dict[str, tuple[float, float]]) -> int:
    points = sorted([(s, 1) for s, _ in spans.values()] + [(e, -1) for _, e in spans.values()])
    running = best = 0
    for _, step in points:
        running += step
        best = max(best, running)
    return best


@pytest.fixture
def start_worker(
    redis_url: str, tmp_path: Path
) -> Iterator[Callable[..., subprocess.Popen[bytes]]]:
    script = tmp_path / "worker.py"
    script.write_text(WORKER_SCRIPT)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(HERE), str(ROOT)])}
    started: list[subprocess.Popen[bytes]] = []

    def start(in_flight: int = 8, *, burst: bool = True) -> subprocess.Popen[bytes]:
        argv = [sys.executable, str(script), redis_url, str(in_flight)]
        process = subprocess.Popen([*argv, "burst" if burst else "run"], env=env, cwd=ROOT)
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def enqueue(redis: Redis, tenant: str, label: str, seconds: float, order: Order) -> None:
    enqueue_for_tenant(
        redis, tenant, f"{MODULE}.take_time", args=(label, seconds), order=order, timeout=30
    )


def test_one_process_runs_a_tenants_reads_side_by_side(redis_client: Redis, start_worker) -> None:
    for n in range(8):
        enqueue(redis_client, "t", f"r{n}", 0.5, READ)
    started = time.monotonic()
    assert start_worker(8).wait(timeout=60) == 0
    spans = events(redis_client)
    assert len(spans) == 8
    assert most_at_once(spans) >= 4
    assert time.monotonic() - started < 8 * 0.5


def test_writes_of_one_key_never_overlap_in_one_process(redis_client: Redis, start_worker) -> None:
    for n in range(4):
        enqueue(redis_client, "t", f"w{n}", 0.2, WRITE)
    assert start_worker(8).wait(timeout=60) == 0
    spans = events(redis_client)
    assert most_at_once(spans) == 1
    ordered = [spans[f"w{n}"] for n in range(4)]
    assert all(a[1] <= b[0] for a, b in itertools.pairwise(ordered))


def test_sigterm_lets_every_call_in_flight_finish(redis_client: Redis, start_worker) -> None:
    for n in range(6):
        enqueue(redis_client, f"t{n}", f"r{n}", 2.0, READ)
    process = start_worker(6, burst=False)
    deadline = time.monotonic() + 30
    while len(events(redis_client)) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    spans = events(redis_client)
    assert len(spans) == 6 and all(end > 0 for _, end in spans.values())


def test_a_long_call_in_flight_keeps_its_heartbeat(redis_client: Redis, start_worker) -> None:
    """Its execution's registry entry is refreshed, so recovery never takes it for dead
    (its TTL here is 3 s; it runs 6 s next to a worker that looks every 0.3 s)."""
    enqueue(redis_client, "t", "long", 6.0, READ)
    process = start_worker(2, burst=False)
    time.sleep(8)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 0
    assert set(events(redis_client)) == {"long"}
    assert redis_client.llen("events") == 2  # started and ended once: never taken again


def test_the_sizer_keeps_just_enough_calls_in_flight_to_fill_the_key() -> None:
    def sizer(latency: float, processes: int) -> int:
        return InFlightSizer(
            rate=50, floor=2, ceiling=64, processes=lambda: processes, latency=lambda: latency
        ).target()

    assert sizer(0.15, 1) == 13  # 50 x 0.15 x 1.5 = 11.25 -> 12, and one spare
    assert sizer(1.0, 4) == 20  # 50 x 1 x 1.5 / 4 = 18.75 -> 19, and one spare
    assert sizer(0.001, 1) == 2  # the floor
    assert sizer(10.0, 1) == 64  # the ceiling
