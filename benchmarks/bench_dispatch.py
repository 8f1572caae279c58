"""Dispatcher figures on a real (embedded) Redis, printed as JSON. No sandbox, no HTTP: the
calls are simulated (a thread sleeps 150 ms), so this measures the scheduler alone; the
end-to-end benchmark against the sandbox is a separate script.

* ``dispatch_cost``: time of one pop (choosing and claiming the next job) with 10, 1,000
  and 100,000 backlogged tenant queues: client round trip and Redis's own time per script
  call (INFO commandstats). Target: within 2x of each other.
* ``utilisation``: 1,000 backlogged tenants with Billbee's nested buckets (key 50/s, user
  10/s, endpoint 2/s), worker threads whose calls take 150 ms. Target: >= 47.5 calls/s
  admitted and never more than 50 in any 1 s window. During the run, 100 probe tenants
  each submit one call: ``isolation`` is the delay from submit to dispatch (target p99
  <= 1 s).
* ``fairness``: 100 backlogged tenants; Jain's index over their dispatched calls (>= 0.99).
* ``nested_limits``: 5 backlogged tenants each calling one endpoint (2/s): >= 9.5 calls/s.
* ``worker_throughput``: no-op jobs of 100 tenants (no buckets) run by 4 real worker
  processes, forking (``TenantWorker``) and not (``SimpleTenantWorker``): jobs/s from the
  first start to the last end, i.e. the per-job overhead of RQ plus the dispatcher.

    .venv/bin/python benchmarks/bench_dispatch.py [--seconds 20] [--threads 12] [--redis-url URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

from redis import Redis

from billhive.billbee.limits import Bucket, buckets_for
from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.workers.queues import enqueue_for_tenant
from billhive.workers.scheduling.buckets import encode_buckets
from billhive.workers.scheduling.dispatcher import RQ_JOB_KEY_PREFIX, Dispatched, Dispatcher
from billhive.workers.scheduling.scripts import BUCKETS_FIELD

CALL_SECONDS = 0.150
KEY_ID = "bench"
OPERATIONS = ("orders.list", "products.update_stock", "orders.get", "products.list")


@contextmanager
def redis_at(url: str | None) -> Iterator[Redis]:
    """The given Redis, or an embedded one started for this run."""
    if url:
        yield Redis.from_url(url)
        return
    with tempfile.TemporaryDirectory() as folder, EmbeddedRedis(Path(folder)) as server:
        yield Redis.from_url(server.url)


def fill(
    redis: Redis,
    dispatcher: Dispatcher,
    tenants: list[str],
    jobs: int,
    buckets_of: Callable[[str, int], list[Bucket]],
) -> None:
    """Give every tenant ``jobs`` bare jobs (a job hash holding its buckets)."""
    pipe = redis.pipeline(transaction=False)
    for n, tenant in enumerate(tenants):
        for j in range(jobs):
            job_id = f"{tenant}-{j}"
            pipe.hset(
                RQ_JOB_KEY_PREFIX + job_id, BUCKETS_FIELD, encode_buckets(buckets_of(tenant, j))
            )
            dispatcher.push(tenant, job_id, pipeline=pipe)
        if n % 500 == 499:
            pipe.execute()
    pipe.execute()


def billbee_buckets(tenant: str, j: int) -> list[Bucket]:
    """The real throttle table, cycling through a few operations."""
    op = OPERATIONS[j % len(OPERATIONS)]
    params = {"id": j} if op == "orders.get" else {}
    return buckets_for(op, params, key_id=KEY_ID, user_id=tenant)


def dispatch_cost(redis: Redis, tenants: int, pops: int = 3000) -> dict[str, Any]:
    """Pop latency with ``tenants`` backlogged queues (each job its own endpoint)."""
    redis.flushdb()
    dispatcher = Dispatcher(redis)
    names = [f"t{n}" for n in range(tenants)]
    jobs = max(1, -(-pops // tenants))

    def unique_endpoint(tenant: str, j: int) -> list[Bucket]:
        user = f"{KEY_ID}:{tenant}"
        return [
            Bucket("key", f"key:{KEY_ID}", 50, 1.0),
            Bucket("user", f"user:{user}", 10, 1.0),
            Bucket("endpoint", f"endpoint:{user}:op{j}", 2, 1.0),
        ]

    fill(redis, dispatcher, names, jobs, unique_endpoint)
    redis.config_resetstat()
    start = dispatcher.redis_time()
    samples = []
    for i in range(pops):
        now = start + i * 0.021  # just under 50/s of Redis time: every pop may dispatch
        began = time.perf_counter()
        decision = dispatcher.pop(now=now)
        samples.append(time.perf_counter() - began)
        assert isinstance(decision, Dispatched), decision
        dispatcher.release(decision.tenant_id, decision.token, now=now)
    stats = redis.info("commandstats")
    script_calls = stats.get("cmdstat_evalsha", {})
    samples.sort()
    return {
        "tenants": tenants,
        "pops": pops,
        "pop_median_us": round(statistics.median(samples) * 1e6, 1),
        "pop_p99_us": round(samples[int(len(samples) * 0.99)] * 1e6, 1),
        "redis_us_per_script_call": script_calls.get("usec_per_call"),
    }


def steady_rate(times: list[float]) -> float:
    """Calls per second over the whole seconds after the first (the start is a burst)."""
    first = min(times)
    whole = int(max(times) - first) - 1
    if whole < 1:
        return 0.0
    start = first + 1.0
    return sum(1 for t in times if start <= t < start + whole) / whole


def max_in_window(times: list[float], period: float) -> int:
    """Most of ``times`` inside any window (t - period, t]."""
    ordered = sorted(times)
    best, lo = 0, 0
    for hi, t in enumerate(ordered):
        while ordered[lo] <= t - period:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def jain(values: list[int]) -> float:
    """Jain's fairness index: 1.0 when every value is equal."""
    total = sum(values)
    squares = sum(v * v for v in values)
    return total * total / (len(values) * squares) if squares else 1.0


def simulate(
    redis: Redis,
    *,
    tenants: int,
    jobs: int,
    seconds: float,
    threads: int,
    buckets_of: Callable[[str, int], list[Bucket]],
    probes: int = 0,
) -> tuple[list[Dispatched], dict[str, float]]:
    """Worker threads pop, 'call' for 150 ms, release. Returns the dispatches and, per
    probe job, its submit time."""
    redis.flushdb()
    dispatcher = Dispatcher(redis)
    fill(redis, dispatcher, [f"t{n:04d}" for n in range(tenants)], jobs, buckets_of)
    dispatched: list[Dispatched] = []
    submitted: dict[str, float] = {}
    lock = threading.Lock()
    stop = threading.Event()

    def worker() -> None:
        while not stop.is_set():
            decision = dispatcher.pop()
            if isinstance(decision, Dispatched):
                with lock:
                    dispatched.append(decision)
                time.sleep(CALL_SECONDS)
                dispatcher.release(decision.tenant_id, decision.token)
            else:
                dispatcher.wait_for_work(min(decision.seconds or 0.5, 0.5))

    def prober() -> None:
        for i in range(probes):
            if stop.wait(0.9 * seconds / probes):
                return
            tenant = f"probe{i}"
            submitted[f"{tenant}-0"] = dispatcher.redis_time()
            fill(redis, dispatcher, [tenant], 1, buckets_of)

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    pool.append(threading.Thread(target=prober))
    for thread in pool:
        thread.start()
    stop.wait(seconds)
    stop.set()
    for thread in pool:
        thread.join()
    return dispatched, submitted


def utilisation(redis: Redis, seconds: float, threads: int) -> dict[str, Any]:
    """1,000 backlogged tenants on Billbee's buckets, with 100 isolation probes."""
    dispatched, submitted = simulate(
        redis,
        tenants=1000,
        jobs=4,
        seconds=seconds,
        threads=threads,
        buckets_of=billbee_buckets,
        probes=100,
    )
    times = [d.at for d in dispatched]
    delays = sorted(d.at - submitted[d.job_id] for d in dispatched if d.job_id in submitted)
    return {
        "utilisation": {
            "tenants": 1000,
            "seconds": seconds,
            "calls_per_second": round(steady_rate(times), 2),
            "max_calls_in_any_1s_window": max_in_window(times, 1.0),
        },
        "isolation": {
            "probes_submitted": len(submitted),
            "probes_dispatched": len(delays),
            "p50_s": round(delays[len(delays) // 2], 3) if delays else None,
            "p99_s": round(delays[int(len(delays) * 0.99)], 3) if delays else None,
        },
    }


def fairness(redis: Redis, seconds: float, threads: int) -> dict[str, Any]:
    """100 backlogged tenants: Jain's index over their dispatched calls."""
    dispatched, _ = simulate(
        redis, tenants=100, jobs=1000, seconds=seconds, threads=threads, buckets_of=billbee_buckets
    )
    counts = Counter(d.tenant_id for d in dispatched)
    values = [counts.get(f"t{n:04d}", 0) for n in range(100)]
    return {"tenants": 100, "calls": sum(values), "jain_index": round(jain(values), 4)}


def nested_limits(redis: Redis, seconds: float, threads: int) -> dict[str, Any]:
    """5 backlogged tenants, each on one endpoint (2/s): together 10/s at most."""

    def one_endpoint(tenant: str, _j: int) -> list[Bucket]:
        return buckets_for("orders.list", {}, key_id=KEY_ID, user_id=tenant)

    dispatched, _ = simulate(
        redis, tenants=5, jobs=1000, seconds=seconds, threads=threads, buckets_of=one_endpoint
    )
    return {
        "tenants": 5,
        "calls_per_second": round(steady_rate([d.at for d in dispatched]), 2),
        "max_calls_in_any_1s_window_per_tenant": max(
            max_in_window([d.at for d in dispatched if d.tenant_id == t], 1.0)
            for t in {d.tenant_id for d in dispatched}
        ),
    }


WORKER_SCRIPT = """
import sys
from redis import Redis
from billhive.workers.scheduling import worker
getattr(worker, sys.argv[1])(connection=Redis.from_url(sys.argv[2])).work(
    burst=True, logging_level="ERROR"
)
"""


def worker_throughput(redis: Redis, url: str, jobs: int = 1000, processes: int = 4) -> dict:
    """No-op jobs through real worker processes, forking and not."""
    figures: dict[str, Any] = {"jobs": jobs, "processes": processes}
    for worker_class in ("TenantWorker", "SimpleTenantWorker"):
        redis.flushdb()
        ids = [
            enqueue_for_tenant(redis, f"t{n % 100}", "builtins.len", args=("ab",)).id
            for n in range(jobs)
        ]
        argv = [sys.executable, "-c", WORKER_SCRIPT, worker_class, url]
        for process in [subprocess.Popen(argv) for _ in range(processes)]:
            process.wait()
        pipe = redis.pipeline(transaction=False)
        for job_id in ids:
            pipe.hmget(f"rq:job:{job_id}", "started_at", "ended_at")
        spans = [(parse(s), parse(e)) for s, e in pipe.execute()]
        elapsed = max(e for _, e in spans) - min(s for s, _ in spans)
        figures[f"{worker_class}_jobs_per_second"] = round(jobs / elapsed, 1)
    return figures


def parse(stamp: bytes) -> float:
    """An RQ timestamp as epoch seconds."""
    return datetime.fromisoformat(stamp.decode().replace("Z", "+00:00")).timestamp()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="length of each simulation")
    parser.add_argument("--threads", type=int, default=12, help="simulated worker threads")
    parser.add_argument("--redis-url", default=None, help="default: an embedded redis-server")
    args = parser.parse_args()
    with redis_at(args.redis_url) as redis:
        url = redis.get_connection_kwargs()
        redis_url = f"redis://{url['host']}:{url['port']}/{url.get('db', 0)}"
        costs = [dispatch_cost(redis, n) for n in (10, 1_000, 100_000)]
        medians = [c["pop_median_us"] for c in costs]
        report = {
            "machine": platform.platform(),
            "dispatch_cost": costs,
            "dispatch_cost_ratio_max_to_min": round(max(medians) / min(medians), 2),
            **utilisation(redis, args.seconds, args.threads),
            "fairness": fairness(redis, args.seconds, args.threads),
            "nested_limits": nested_limits(redis, args.seconds, args.threads),
            "worker_throughput": worker_throughput(redis, redis_url),
        }
        redis.flushdb()
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
