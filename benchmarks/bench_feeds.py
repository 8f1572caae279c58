"""Change feeds end to end (issue 17): from a change in the sandbox to the vendor's callback.

Everything is real: PostgreSQL (a throw-away database), an embedded redis-server, the
sandbox under gunicorn (throttle on, lognormal 150 ms latency, webhook delivery and the
change generator), ``billhive worker --concurrency 4``, ``billhive scheduler`` (the feed
poller, the webhook sync, the event collection), ``billhive web`` under gunicorn (the
webhook receiver, at ``BILLHIVE_PUBLIC_URL``) and a callback receiver in this process that
records when each event arrives. Every tenant has its orders feed on; one API token's
callback takes ``order.changed`` and ``order.created`` of all tenants.

Scenarios (each on a fresh platform; the generator runs ``--seconds`` at ``--rate``
changes per account per minute, then ``--drain`` seconds are allowed for the rest):

* webhooks: Billbee webhooks registered and delivered; p95 change-to-callback <= 5 s and
  feed fetches <= 10% of the key's 50 calls/s;
* lossy: the same with 20% of the webhook posts lost: no change missed, p95 <= 120 s;
* polling: no webhooks (``BILLHIVE_FEED_WEBHOOKS=false``): no change missed, p95 <= 120 s,
  feed fetches <= 30% of the key.

A change (the sandbox's change log: account, order, the moment written on the order)
counts as told when an event of that tenant and order whose ``modified_at`` is not older
than the change (whole seconds, as Billbee stamps) reached the callback; its latency is
that event's arrival minus the change's time (two changes of one order between two reads
are told by one event). Missed: no such event by the end of the drain; the first ten are
printed (``missed_changes``) with the times told for their order and their feed's state.
The receiver and the matching are shared with the feed durability drill
(benchmarks/feed_checks.py). Prints one JSON document.

    .venv/bin/python benchmarks/bench_feeds.py [--tenants 200] [--seconds 180]
        [--drain 180] [--rate 1.0] [--scenario all|webhooks|lossy|polling]
        [--feed-key-share 0.1] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from common import (
    DEFAULT_DATABASE_URL,
    bench_password,
    bench_username,
    create_tenants,
    fresh_database,
)
from feed_checks import (
    CallbackReceiver,
    change_log,
    explain_missed,
    match,
    sandbox_control,
    subscribe_orders,
    wait_first_passes,
    wait_registered,
)
from sqlalchemy import func, select

from billhive.billbee.limits import KEY_LIMIT
from billhive.config import generate_dev_secrets, load_settings
from billhive.db import utcnow
from billhive.dev.embedded_redis import EmbeddedRedis, free_port
from billhive.feeds.fetch import CONSUMER
from billhive.workers.models import Call
from billhive.workers.runtime import Runtime

API_KEY = "bench-feeds-key"
LATENCY = "lognormal:150:0.25"
WORKER_CONCURRENCY = 4
SCENARIOS: dict[str, dict[str, Any]] = {
    "webhooks": {"webhooks": True, "loss": 0.0, "p95_s": 5.0, "key_share": 0.10},
    "lossy": {"webhooks": True, "loss": 0.2, "p95_s": 120.0, "key_share": None},
    "polling": {"webhooks": False, "loss": 0.0, "p95_s": 120.0, "key_share": 0.30},
}


def _wait_http(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")


@contextmanager
def process(argv: list[str], env: dict[str, str]) -> Iterator[subprocess.Popen[bytes]]:
    """A billhive process, stopped with SIGINT (then killed) afterwards."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "billhive.cli", *argv],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def sandbox_server(accounts: int, workdir: Path) -> Iterator[str]:
    """The sandbox under gunicorn (one process: throttle, webhooks and change log are
    per process)."""
    seed = workdir / "seed.json"
    seed.write_text(
        json.dumps(
            {
                "api_keys": [API_KEY],
                "accounts": [
                    {"id": n, "username": bench_username(n), "password": bench_password(n)}
                    for n in range(1, accounts + 1)
                ],
            }
        )
    )
    port = free_port()
    argv = ["sandbox", "--port", str(port), "--seed", str(seed), "--no-demo"]
    env = {**os.environ, "BILLHIVE_ENV": "test", "BILLHIVE_LOG_LEVEL": "WARNING"}
    with process([*argv, "--latency", LATENCY, "--threads", "256"], env):
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/api/v1/_sandbox/health")
        yield url


class Platform:
    """Database, Redis, sandbox, settings and environment of one scenario."""

    def __init__(
        self,
        database_url: str,
        redis_url: str,
        sandbox_url: str,
        web_port: int,
        *,
        webhooks: bool,
        key_share: float | None = None,
    ) -> None:
        secrets = {
            k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()
        }
        secrets["billbee_api_key"] = API_KEY
        overrides = {
            "env": "test",
            "database_url": database_url,
            "redis_url": redis_url,
            "billbee_base_url": sandbox_url + "/api/v1",
            "public_url": f"http://127.0.0.1:{web_port}",
            "callback_allowed_networks": "127.0.0.0/8",
            "feed_webhooks": "true" if webhooks else "false",
            "log_level": "WARNING",
        }
        if key_share is not None:
            overrides["feed_key_share"] = str(key_share)
        self.env = {
            **os.environ,
            **{f"BILLHIVE_{k.upper()}": v for k, v in {**secrets, **overrides}.items()},
        }
        self.sandbox_url = sandbox_url
        self.web_port = web_port
        typed: dict[str, Any] = {"feed_webhooks": webhooks}
        if key_share is not None:
            typed["feed_key_share"] = key_share
        settings = load_settings(**{**secrets, **overrides, **typed})
        self.runtime = Runtime.from_settings(settings)

    def control(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """A call of the sandbox's control API."""
        return sandbox_control(self.sandbox_url, method, path, body)

    def close(self) -> None:
        self.runtime.close()


def feed_fetches(plat: Platform, since: datetime, until: datetime) -> int:
    """Feed fetch calls started within the window."""
    with plat.runtime.database.session() as session:
        return int(
            session.scalar(
                select(func.count())
                .select_from(Call)
                .where(Call.consumer == CONSUMER, Call.started_at >= since)
                .where(Call.started_at < until)
            )
            or 0
        )


def percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, math.ceil(share * len(ordered)) - 1)], 2)


def run_scenario(name: str, args: argparse.Namespace) -> dict[str, Any]:
    """One scenario on a fresh database, Redis, sandbox and set of processes."""
    spec = SCENARIOS[name]
    workdir = Path(tempfile.mkdtemp(prefix="bench-feeds-"))
    with (
        fresh_database(args.database_url, "feeds") as database_url,
        EmbeddedRedis(workdir) as redis,
        sandbox_server(args.tenants, workdir) as sandbox_url,
        CallbackReceiver() as receiver,
    ):
        plat = Platform(
            database_url,
            redis.url,
            sandbox_url,
            free_port(),
            webhooks=spec["webhooks"],
            key_share=args.feed_key_share,
        )
        try:
            return _measure(plat, receiver, spec, args)
        finally:
            plat.close()


def _measure(
    plat: Platform, receiver: CallbackReceiver, spec: dict[str, Any], args: argparse.Namespace
) -> dict[str, Any]:
    env = {**plat.env, "BILLHIVE_INSTANCE_PATH": str(Path(tempfile.mkdtemp()) / "instance")}
    rt = plat.runtime
    create_tenants(rt.database, rt.vault, args.tenants)
    subscribe_orders(rt.database, range(1, args.tenants + 1), receiver.url)
    if spec["webhooks"]:
        plat.control("PUT", "webhooks", {"deliver": True, "loss": spec["loss"]})
    web_argv = ["web", "--port", str(plat.web_port), "--workers", "2"]
    with (
        process(web_argv, env),
        process(["worker", "--concurrency", str(WORKER_CONCURRENCY)], env),
        process(["scheduler"], env),
    ):
        _wait_http(f"http://127.0.0.1:{plat.web_port}/healthz")
        setup: dict[str, float] = {}
        if spec["webhooks"]:
            setup["webhooks_registered_s"] = round(
                wait_registered(rt.database, args.tenants, timeout=args.tenants * 2 + 120), 1
            )
        setup["first_passes_s"] = round(wait_first_passes(rt.database, timeout=120), 1)
        plat.control("POST", "reset-stats")
        begun, started = utcnow(), time.monotonic()
        plat.control("PUT", "changes/generator", {"per_account_per_minute": args.rate})
        time.sleep(args.seconds)
        plat.control("PUT", "changes/generator", {"per_account_per_minute": 0})
        elapsed, ended = time.monotonic() - started, utcnow()
        sandbox = plat.control("GET", "stats")
        hooks = plat.control("GET", "webhooks")
        fetches = feed_fetches(plat, begun, ended)
        changes = change_log(plat.sandbox_url)
        deadline = time.monotonic() + args.drain
        latencies, missed = match(changes, receiver.snapshot())
        while missed and time.monotonic() < deadline:
            time.sleep(5)
            latencies, missed = match(changes, receiver.snapshot())
        drained = args.drain - max(0.0, deadline - time.monotonic())
        missed_changes = explain_missed(plat.runtime.database, missed, receiver.snapshot())
    per_s = fetches / elapsed
    total = sandbox["total"]
    result: dict[str, Any] = {
        "tenants": args.tenants,
        "seconds": round(elapsed, 1),
        "rate_per_account_per_minute": args.rate,
        "setup": setup,
        "changes": len(changes),
        "events_received": len(receiver.snapshot()),
        "missed": len(missed),
        # What a missed change was: enough to tell a lost change from a wrong match.
        "missed_changes": missed_changes,
        "drain_s": round(drained, 1),
        "p50_s": percentile(latencies, 0.50),
        "p95_s": percentile(latencies, 0.95),
        "p99_s": percentile(latencies, 0.99),
        "max_s": round(max(latencies), 2) if latencies else None,
        "feed_fetches_per_s": round(per_s, 2),
        "feed_key_share_percent": round(100 * per_s / KEY_LIMIT, 1),
        "sandbox_accepted_per_s": round(total["accepted"] / elapsed, 2),
        "sandbox_429": total["throttled"],
    }
    if spec["webhooks"]:
        result["webhook_posts"] = {k: hooks.get(k) for k in ("delivered", "lost", "failed")}
    return result


def check(name: str, result: dict[str, Any]) -> bool:
    """Whether the scenario met its targets."""
    spec = SCENARIOS[name]
    ok = result["missed"] == 0 and (result["p95_s"] or 1e9) <= spec["p95_s"]
    if spec["key_share"] is not None:
        ok = ok and result["feed_key_share_percent"] <= 100 * spec["key_share"]
    return bool(ok)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--tenants", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--drain", type=float, default=180.0)
    parser.add_argument("--rate", type=float, default=1.0, help="changes per account per minute")
    parser.add_argument("--scenario", choices=("all", *SCENARIOS), default="all")
    parser.add_argument(
        "--feed-key-share",
        type=float,
        default=None,
        help="BILLHIVE_FEED_KEY_SHARE for the run (default: the setting's default, 0.10)",
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BILLHIVE_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    args = parser.parse_args()
    wanted = list(SCENARIOS) if args.scenario == "all" else [args.scenario]
    results = {name: run_scenario(name, args) for name in wanted}
    checks = {name: check(name, results[name]) for name in wanted}
    report = {
        "benchmark": "change_feeds_against_sandbox",
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sandbox_latency": LATENCY,
        "worker_concurrency": WORKER_CONCURRENCY,
        "feed_key_share": args.feed_key_share,
        "targets": {
            name: {"p95_s": s["p95_s"], "missed": 0, "key_share_max": s["key_share"]}
            for name, s in SCENARIOS.items()
            if name in wanted
        },
        "results": results,
        "checks": checks,
        "ok": all(checks.values()),
    }
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
