"""The platform's real workers against the sandbox (throttle on, ~150 ms median latency).

Scenarios (each measured over ``--seconds``, default 60, after a warm-up):

* utilization + isolation: 1,000 backlogged tenants; calls/s the sandbox accepted and its
  429 count; meanwhile 100 probe tenants each submit one call, and the time from enqueue to
  start is measured (p99 target <= 1 s);
* fairness: 100 backlogged tenants; Jain's index over the calls each got accepted;
* nested limits: 5 backlogged tenants, each calling one endpoint (orders.list): 5 x 2/s;
* plain RQ: the same three loads on stock ``rq worker --dequeue-strategy round_robin``
  listening to every tenant queue (no dispatcher), for comparison.

Lanes and the relaxed order (issue 15; ``--scenario lanes`` runs all four):

* single: one backlogged tenant reading over 8 endpoints (reads run side by side, so it
  may use its whole 10 calls/s);
* few: two such tenants (their 20 calls/s);
* urgent: a tenant with 2,000 bulk reads queued and 20 other backlogged tenants submits
  one interactive read 50 times; and the same with 2,000 bulk stock writes queued and an
  interactive order-state change keyed by its order: time from enqueue to start;
* background: 1,000 background calls queued while interactive load fills the key: the
  background lane's share of the accepted calls (10% by default) and its progress.

Calls in flight (issue 18; ``--scenario latency``): 1,000 backlogged tenants with the
sandbox at 150 ms, 500 ms and 1 s median latency, served by 4 worker processes that size
their calls in flight themselves: calls/s accepted, 429s, and the resident memory of the
worker processes together (sampled every second; the peak).

Everything is real: PostgreSQL (a throw-away database), an embedded redis-server, the
sandbox under gunicorn, ``billhive worker`` processes. Prints one JSON document.

    .venv/bin/python benchmarks/bench_workers.py [--seconds 60] [--workers 16]
        [--scenario all|utilization|fairness|nested|plain] [--database-url URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
from common import (
    DEFAULT_DATABASE_URL,
    bench_password,
    bench_username,
    create_tenants,
    fresh_database,
)
from rq import Queue, Retry
from sqlalchemy import select

from billhive.config import generate_dev_secrets, load_settings
from billhive.dev.embedded_redis import EmbeddedRedis, free_port
from billhive.workers import payloads
from billhive.workers.calls import (
    CALL_JOB,
    CallRequest,
    StockItem,
    enqueue_call,
    enqueue_calls,
    enqueue_stock_updates,
)
from billhive.workers.models import Call, job_id_for
from billhive.workers.runtime import Runtime
from billhive.workers.stats import worker_load

API_KEY = "bench-workers-key"
LATENCY = "lognormal:150:0.25"
BACKLOG = 1_000
PROBES = 100
FAIR_TENANTS = 100
NESTED_TENANTS = 5
TARGETS = {
    "utilization_calls_per_s": 47.5,
    "fairness_jain": 0.99,
    "nested_calls_per_s": 9.5,
    "isolation_p99_s": 1.0,
}


class Platform:
    """Database, Redis, sandbox and settings of one scenario run."""

    def __init__(self, database_url: str, redis_url: str, sandbox_url: str) -> None:
        secrets = {
            k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()
        }
        secrets["billbee_api_key"] = API_KEY
        self.env = {
            **os.environ,
            **{f"BILLHIVE_{k.upper()}": v for k, v in secrets.items()},
            "BILLHIVE_ENV": "test",
            "BILLHIVE_DATABASE_URL": database_url,
            "BILLHIVE_REDIS_URL": redis_url,
            "BILLHIVE_BILLBEE_BASE_URL": sandbox_url + "/api/v1",
            "BILLHIVE_LOG_LEVEL": "WARNING",
        }
        self.sandbox_url = sandbox_url
        settings = load_settings(
            env="test",
            database_url=database_url,
            redis_url=redis_url,
            billbee_base_url=sandbox_url + "/api/v1",
            **secrets,
        )
        self.runtime = Runtime.from_settings(settings)

    def close(self) -> None:
        self.runtime.close()


@contextmanager
def sandbox_server(accounts: int, latency: str = LATENCY) -> Iterator[str]:
    """The sandbox under gunicorn (one process: its throttle state is per process)."""
    seed = {
        "api_keys": [API_KEY],
        "accounts": [
            {"id": n, "username": bench_username(n), "password": bench_password(n)}
            for n in range(1, accounts + 1)
        ],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as handle:
        json.dump(seed, handle)
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "billhive.cli",
            "sandbox",
            "--port",
            str(port),
            "--seed",
            handle.name,
            "--no-demo",
            "--latency",
            latency,
            "--threads",
            "256",
        ],
        env={**os.environ, "BILLHIVE_ENV": "test", "BILLHIVE_LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_http(url + "/api/v1/_sandbox/health")
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)
        Path(handle.name).unlink(missing_ok=True)


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def workers(
    plat: Platform, count: int, *, plain_queues: list[str] | None = None
) -> Iterator[list[subprocess.Popen[bytes]]]:
    """``count`` billhive worker processes, or stock RQ workers on ``plain_queues``."""
    if plain_queues is None:
        argvs = [[sys.executable, "-m", "billhive.cli", "worker", "--concurrency", str(count)]]
    else:
        argv = [
            sys.executable,
            "-m",
            "rq.cli",
            "worker",
            "-q",
            "-w",
            "rq.worker.SimpleWorker",
            "--dequeue-strategy",
            "round_robin",
            "-u",
            plat.env["BILLHIVE_REDIS_URL"],
            *plain_queues,
        ]
        argvs = [argv] * count
    processes = [
        subprocess.Popen(a, env=plat.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for a in argvs
    ]
    try:
        yield processes
    finally:
        for process in processes:
            process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


#: Order polling, five orders a page: Billbee's servers are not on this machine, so the
#: sandbox should not spend the CPUs serializing 50 orders per answer.
CALL_PARAMS = {"page": 1, "pageSize": 5}


def enqueue(plat: Platform, tenant_id: int, *, plain: bool) -> int:
    """One orders.list call for ``tenant_id``: through billhive, or onto a plain RQ queue."""
    rt = plat.runtime
    with rt.database.session() as session:
        if not plain:
            return enqueue_call(
                tenant_id,
                "orders.list",
                CALL_PARAMS,
                session=session,
                redis=rt.redis,
                vault=rt.vault,
            ).id
        call = Call(tenant_id=tenant_id, operation="orders.list")
        session.add(call)
        session.flush()
        key = payloads.key_for(session, rt.vault, tenant_id)
        assert key is not None
        payloads.seal_request(key, call, CALL_PARAMS, None)
        session.commit()
        Queue(f"plain:t:{tenant_id}", connection=rt.redis).enqueue_call(
            CALL_JOB, args=(call.id,), job_id=job_id_for(call.id), retry=Retry(max=10_000)
        )
        return call.id


def backlog(plat: Platform, tenants: range, per_tenant: int, *, plain: bool) -> None:
    """Queue ``per_tenant`` calls for each tenant, round by round."""
    for _ in range(per_tenant):
        for tenant_id in tenants:
            enqueue(plat, tenant_id, plain=plain)


def stats(plat: Platform) -> dict[str, Any]:
    response = httpx.get(plat.sandbox_url + "/api/v1/_sandbox/stats", timeout=10)
    data: dict[str, Any] = response.json()
    return data


def reset_stats(plat: Platform) -> None:
    httpx.post(plat.sandbox_url + "/api/v1/_sandbox/reset-stats", timeout=10).raise_for_status()


def jain(values: list[float]) -> float:
    """Jain's fairness index: 1.0 when every value is equal."""
    if not values or not any(values):
        return 0.0
    return sum(values) ** 2 / (len(values) * sum(v * v for v in values))


def measure(plat: Platform, seconds: float, warmup: float = 5.0) -> tuple[dict[str, Any], float]:
    """Sandbox stats over a window of ``seconds`` after ``warmup``."""
    time.sleep(warmup)
    reset_stats(plat)
    started = time.monotonic()
    time.sleep(seconds)
    return stats(plat), time.monotonic() - started


def _window(snapshot: dict[str, Any], elapsed: float, tenants: range) -> dict[str, Any]:
    total = snapshot["total"]
    per_tenant = [float(snapshot["accounts"].get(str(t), {}).get("accepted", 0)) for t in tenants]
    throttled_by = {
        a: v["throttled"] for a, v in snapshot["accounts"].items() if v.get("throttled")
    }
    return {
        "accepted": total["accepted"],
        "throttled_429": total["throttled"],
        "tenants_with_429": len(throttled_by),
        "429_by_rule": snapshot.get("throttled_by_rule", {}),
        "calls_per_s": round(total["accepted"] / elapsed, 2),
        "jain_index": round(jain(per_tenant), 4),
        "seconds": round(elapsed, 1),
    }


def probe_latencies(plat: Platform, seconds: float, *, plain: bool) -> list[float]:
    """Enqueue one call for each of PROBES idle tenants across the window; seconds to start."""
    probe_ids = range(BACKLOG + 1, BACKLOG + PROBES + 1)
    gap = seconds / PROBES
    calls = []
    for tenant_id in probe_ids:
        calls.append(enqueue(plat, tenant_id, plain=plain))
        time.sleep(gap)
    time.sleep(5)
    with plat.runtime.database.session() as session:
        rows = session.scalars(select(Call).where(Call.id.in_(calls))).all()
    waits = []
    for row in rows:
        if row.started_at is None:
            waits.append(float("inf"))
        else:
            waits.append((row.started_at - row.enqueued_at).total_seconds())
    return waits


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(len(ordered) * 0.99) - 1)]


def run_utilization(plat: Platform, args: argparse.Namespace, *, plain: bool) -> dict[str, Any]:
    tenants = range(1, BACKLOG + 1)
    per_tenant = max(3, int(args.seconds * 55 / BACKLOG) + 2)
    backlog(plat, tenants, per_tenant, plain=plain)
    queues = [f"plain:t:{t}" for t in range(1, BACKLOG + PROBES + 1)] if plain else None
    with workers(plat, args.workers, plain_queues=queues):
        time.sleep(5)
        reset_stats(plat)
        started = time.monotonic()
        waits = probe_latencies(plat, args.seconds, plain=plain)
        snapshot, elapsed = stats(plat), time.monotonic() - started
    result = _window(snapshot, elapsed, tenants)
    finite = [w for w in waits if w != float("inf")]
    result["isolation"] = {
        "probes": len(waits),
        "started": len(finite),
        "p50_s": round(statistics.median(finite), 3) if finite else None,
        # None when some probe never started within the window (a p99 of "never").
        "p99_s": round(_p99(waits), 3) if len(finite) == len(waits) else None,
    }
    return result


def run_backlogged(
    plat: Platform, args: argparse.Namespace, tenants: range, per_tenant: int, *, plain: bool
) -> dict[str, Any]:
    backlog(plat, tenants, per_tenant, plain=plain)
    queues = [f"plain:t:{t}" for t in tenants] if plain else None
    with workers(plat, args.workers, plain_queues=queues):
        snapshot, elapsed = measure(plat, args.seconds)
    return _window(snapshot, elapsed, tenants)


SCENARIOS = ("utilization", "fairness", "nested")
LANE_SCENARIOS = ("single", "few", "urgent", "background")
LATENCIES_MS = (150, 500, 1000)
LATENCY_TARGETS = {"calls_per_s": 47.5, "processes": 4, "rss_mib": 1024}
#: Reads a tenant of the lane scenarios spreads over (each endpoint allows 2 calls/s).
READ_OPERATIONS = (
    ("orders.list", {"page": 1, "pageSize": 5}),
    ("products.list", {"page": 1, "pageSize": 5}),
    ("customers.list", {"page": 1, "pageSize": 5}),
    ("shipments.list", {"page": 1, "pageSize": 5}),
    ("customer_addresses.list", {"page": 1, "pageSize": 5}),
    ("shop_accounts.list", {"page": 1, "pageSize": 5}),
    ("layouts.list", {}),
    ("webhooks.list", {}),
)
URGENT_TRIES = 50
LANE_TARGETS = {
    "single_calls_per_s": 9.5,
    "few_calls_per_s": 19.0,
    "urgent_p99_s": 1.0,
    "background_share_points": 2.0,
}


def _enqueue_requests(
    plat: Platform, tenant_id: int, requests: list[CallRequest], chunk: int = 100
) -> list[int]:
    ids: list[int] = []
    with plat.runtime.database.session() as session:
        for start in range(0, len(requests), chunk):
            calls = enqueue_calls(
                tenant_id,
                requests[start : start + chunk],
                session=session,
                redis=plat.runtime.redis,
                vault=plat.runtime.vault,
            )
            ids.extend(c.id for c in calls)
    return ids


def _reads(count: int, priority: str) -> list[CallRequest]:
    return [
        CallRequest(*READ_OPERATIONS[n % len(READ_OPERATIONS)], None, priority)
        for n in range(count)
    ]


def run_readers(plat: Platform, args: argparse.Namespace, tenants: range) -> dict[str, Any]:
    """Backlogged tenants reading over 8 endpoints: calls/s accepted."""
    for tenant_id in tenants:
        _enqueue_requests(plat, tenant_id, _reads(int(args.seconds * 11) + 200, "interactive"))
    with workers(plat, args.workers):
        snapshot, elapsed = measure(plat, args.seconds)
    return _window(snapshot, elapsed, tenants)


def _start_waits(plat: Platform, call_ids: list[int]) -> list[float]:
    with plat.runtime.database.session() as session:
        rows = session.scalars(select(Call).where(Call.id.in_(call_ids))).all()
    return [
        (row.started_at - row.enqueued_at).total_seconds() if row.started_at else float("inf")
        for row in rows
    ]


def run_urgent(plat: Platform, args: argparse.Namespace, *, stock: bool) -> dict[str, Any]:
    """Tenant 1 has 2,000 bulk calls queued, tenants 2..21 are backlogged; tenant 1 submits
    one interactive call URGENT_TRIES times: seconds from enqueue to start."""
    if stock:
        with plat.runtime.database.session() as session:
            for start in range(0, 2_000, 100):
                enqueue_stock_updates(
                    1,
                    [StockItem(sku=f"SKU-{n}", quantity=n) for n in range(start, start + 100)],
                    session=session,
                    redis=plat.runtime.redis,
                    vault=plat.runtime.vault,
                )
    else:
        _enqueue_requests(plat, 1, _reads(2_000, "bulk"))
    for tenant_id in range(2, 22):
        _enqueue_requests(plat, tenant_id, _reads(int(args.seconds * 4) + 100, "interactive"))
    probes: list[int] = []
    with workers(plat, args.workers):
        time.sleep(5)
        for n in range(URGENT_TRIES):
            with plat.runtime.database.session() as session:
                if stock:
                    call = enqueue_call(
                        1,
                        "orders.update_state",
                        {"id": 1_000 + n},
                        body={"NewStateId": 3},
                        session=session,
                        redis=plat.runtime.redis,
                        vault=plat.runtime.vault,
                        ordering_key=f"order:{1_000 + n}",
                    )
                else:
                    call = enqueue_call(
                        1,
                        "orders.list",
                        {"page": 1},
                        session=session,
                        redis=plat.runtime.redis,
                        vault=plat.runtime.vault,
                    )
            probes.append(call.id)
            time.sleep(max(0.2, args.seconds / URGENT_TRIES))
        time.sleep(3)
    waits = _start_waits(plat, probes)
    finite = [w for w in waits if w != float("inf")]
    return {
        "tries": len(waits),
        "started": len(finite),
        "p50_s": round(statistics.median(finite), 3) if finite else None,
        "p99_s": round(_p99(waits), 3) if len(finite) == len(waits) else None,
        "max_s": round(max(finite), 3) if finite else None,
    }


def run_background(plat: Platform, args: argparse.Namespace) -> dict[str, Any]:
    """Interactive load over 100 tenants fills the key; 1,000 background calls wait on
    tenants 101..120: the background lane's share of what the sandbox accepted."""
    fg, bg = range(1, 101), range(101, 121)
    for tenant_id in fg:
        _enqueue_requests(plat, tenant_id, _reads(int(args.seconds * 0.6) + 20, "interactive"))
    for tenant_id in bg:
        _enqueue_requests(plat, tenant_id, _reads(50, "background"))
    with workers(plat, args.workers):
        snapshot, elapsed = measure(plat, args.seconds)
    accounts = snapshot["accounts"]
    background = sum(accounts.get(str(t), {}).get("accepted", 0) for t in bg)
    total = snapshot["total"]["accepted"]
    result = _window(snapshot, elapsed, fg)
    result.update(
        {
            "background_accepted": background,
            "background_share_percent": round(100 * background / total, 2) if total else None,
            "background_target_percent": 100 * plat.runtime.settings.background_share,
        }
    )
    return result


def run_lane_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One lane scenario on a fresh database, Redis and sandbox."""
    with (
        fresh_database(args.database_url, "lanes") as database_url,
        EmbeddedRedis(Path(tempfile.mkdtemp())) as redis,
        sandbox_server(200) as sandbox_url,
    ):
        plat = Platform(database_url, redis.url, sandbox_url)
        try:
            create_tenants(plat.runtime.database, plat.runtime.vault, 200)
            if name == "single":
                return run_readers(plat, args, range(1, 2))
            if name == "few":
                return run_readers(plat, args, range(1, 3))
            if name == "urgent":
                reads = run_urgent(plat, args, stock=False)
                return {"bulk_reads_queued": reads}
            return run_background(plat, args)
        finally:
            plat.close()


def run_urgent_stock(args: argparse.Namespace) -> dict[str, Any]:
    """The urgent scenario's second half: 2,000 bulk stock writes and a keyed state change."""
    with (
        fresh_database(args.database_url, "lanes") as database_url,
        EmbeddedRedis(Path(tempfile.mkdtemp())) as redis,
        sandbox_server(200) as sandbox_url,
    ):
        plat = Platform(database_url, redis.url, sandbox_url)
        try:
            create_tenants(plat.runtime.database, plat.runtime.vault, 200)
            return run_urgent(plat, args, stock=True)
        finally:
            plat.close()


def run_scenario(name: str, args: argparse.Namespace, *, plain: bool) -> dict[str, Any]:
    """One scenario on a fresh database, Redis and sandbox."""
    accounts = BACKLOG + PROBES
    with (
        fresh_database(args.database_url, "workers") as database_url,
        EmbeddedRedis(Path(tempfile.mkdtemp())) as redis,
        sandbox_server(accounts) as sandbox_url,
    ):
        plat = Platform(database_url, redis.url, sandbox_url)
        try:
            create_tenants(plat.runtime.database, plat.runtime.vault, accounts)
            if name == "utilization":
                return run_utilization(plat, args, plain=plain)
            if name == "fairness":
                per = int(args.seconds * 50 / FAIR_TENANTS) + 10
                return run_backlogged(plat, args, range(1, FAIR_TENANTS + 1), per, plain=plain)
            per = int(args.seconds * 2.5) + 10
            return run_backlogged(plat, args, range(1, NESTED_TENANTS + 1), per, plain=plain)
        finally:
            plat.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument(
        "--latency-ms", type=int, default=0, help="the latency scenario at this latency only"
    )
    parser.add_argument("--workers", type=int, default=12)
    parser.add_argument(
        "--scenario",
        choices=("all", *SCENARIOS, "plain", "lanes", *LANE_SCENARIOS, "latency"),
        default="all",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BILLHIVE_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    args = parser.parse_args()
    if args.scenario == "lanes" or args.scenario in LANE_SCENARIOS:
        return run_lanes(args)
    if args.scenario == "latency":
        return run_latencies(args)
    wanted = SCENARIOS if args.scenario in ("all", "plain") else (args.scenario,)
    report: dict[str, Any] = {
        "benchmark": "workers_against_sandbox",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sandbox_latency": LATENCY,
        "workers": args.workers,
        "targets": TARGETS,
        "billhive": {},
        "plain_rq_round_robin": {},
    }
    if args.scenario != "plain":
        for name in wanted:
            report["billhive"][name] = run_scenario(name, args, plain=False)
    if args.scenario in ("all", "plain"):
        for name in wanted:
            report["plain_rq_round_robin"][name] = run_scenario(name, args, plain=True)
    billhive = report["billhive"]
    checks = {}
    if "utilization" in billhive:
        u = billhive["utilization"]
        checks["utilization"] = (
            u["calls_per_s"] >= TARGETS["utilization_calls_per_s"] and u["throttled_429"] == 0
        )
        checks["isolation"] = (u["isolation"]["p99_s"] or 99) <= TARGETS["isolation_p99_s"]
    if "fairness" in billhive:
        checks["fairness"] = billhive["fairness"]["jain_index"] >= TARGETS["fairness_jain"]
    if "nested" in billhive:
        n = billhive["nested"]
        checks["nested"] = (
            n["calls_per_s"] >= TARGETS["nested_calls_per_s"] and n["throttled_429"] == 0
        )
    report["checks"] = checks
    report["ok"] = all(checks.values())
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def _rss_mib(processes: list[subprocess.Popen[bytes]]) -> float:
    """Resident memory of the processes and everything they started, in MiB."""
    total = 0
    for process in processes:
        with contextlib.suppress(psutil.Error):
            root = psutil.Process(process.pid)
            for each in [root, *root.children(recursive=True)]:
                with contextlib.suppress(psutil.Error):
                    total += each.memory_info().rss
    return total / 2**20


def run_latency(args: argparse.Namespace, latency_ms: int) -> dict[str, Any]:
    """1,000 backlogged tenants at one sandbox latency, 4 worker processes."""
    tenants = range(1, BACKLOG + 1)
    with (
        fresh_database(args.database_url, "latency") as database_url,
        EmbeddedRedis(Path(tempfile.mkdtemp())) as redis,
        sandbox_server(BACKLOG, f"lognormal:{latency_ms}:0.25") as sandbox_url,
    ):
        plat = Platform(database_url, redis.url, sandbox_url)
        try:
            create_tenants(plat.runtime.database, plat.runtime.vault, BACKLOG)
            per_tenant = max(3, int(args.seconds * 55 / BACKLOG) + 3)
            backlog(plat, tenants, per_tenant, plain=False)
            peak = 0.0
            with workers(plat, LATENCY_TARGETS["processes"]) as processes:
                # Warm-up: the workers measure the latency and grow their calls in flight.
                warmup_end = time.monotonic() + 10 + latency_ms / 100
                while time.monotonic() < warmup_end:
                    time.sleep(1)
                reset_stats(plat)
                started = time.monotonic()
                while time.monotonic() - started < args.seconds:
                    time.sleep(1)
                    peak = max(peak, _rss_mib(processes))
                snapshot, elapsed = stats(plat), time.monotonic() - started
                load = worker_load(plat.runtime.redis)
            result = _window(snapshot, elapsed, tenants)
            result.update(
                {
                    "latency_ms": latency_ms,
                    "worker_processes": LATENCY_TARGETS["processes"],
                    "peak_rss_mib": round(peak, 1),
                    "calls_in_flight": load.in_flight,
                    "in_flight_target": load.target,
                    "measured_latency_ms": load.latency_ms,
                }
            )
            return result
        finally:
            plat.close()


def run_latencies(args: argparse.Namespace) -> int:
    """The calls-in-flight scenario at each latency; prints one JSON document."""
    latencies = [args.latency_ms] if args.latency_ms else LATENCIES_MS
    results = {f"{ms}ms": run_latency(args, ms) for ms in latencies}
    checks = {
        name: r["calls_per_s"] >= LATENCY_TARGETS["calls_per_s"]
        and r["throttled_429"] == 0
        and r["peak_rss_mib"] <= LATENCY_TARGETS["rss_mib"]
        for name, r in results.items()
    }
    report = {
        "benchmark": "calls_in_flight_against_sandbox",
        "targets": LATENCY_TARGETS,
        "results": results,
        "checks": checks,
        "ok": all(checks.values()),
    }
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


def run_lanes(args: argparse.Namespace) -> int:
    """The lane scenarios (see the module docstring); prints one JSON document."""
    wanted = LANE_SCENARIOS if args.scenario == "lanes" else (args.scenario,)
    results: dict[str, Any] = {}
    for name in wanted:
        results[name] = run_lane_scenario(name, args)
        if name == "urgent":
            results[name]["bulk_stock_writes_queued"] = run_urgent_stock(args)
    checks: dict[str, bool] = {}
    if "single" in results:
        single = results["single"]
        checks["single"] = (
            single["calls_per_s"] >= LANE_TARGETS["single_calls_per_s"]
            and single["throttled_429"] == 0
        )
    if "few" in results:
        few = results["few"]
        checks["few"] = (
            few["calls_per_s"] >= LANE_TARGETS["few_calls_per_s"] and few["throttled_429"] == 0
        )
    if "urgent" in results:
        checks["urgent"] = all(
            (part["p99_s"] or 99) <= LANE_TARGETS["urgent_p99_s"]
            for part in results["urgent"].values()
        )
    if "background" in results:
        bg = results["background"]
        checks["background"] = (
            bg["background_share_percent"] is not None
            and abs(bg["background_share_percent"] - bg["background_target_percent"])
            <= LANE_TARGETS["background_share_points"]
            and bg["throttled_429"] == 0
        )
    report = {
        "benchmark": "lanes_against_sandbox",
        "sandbox_latency": LATENCY,
        "workers": args.workers,
        "targets": LANE_TARGETS,
        "results": results,
        "checks": checks,
        "ok": all(checks.values()),
    }
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
