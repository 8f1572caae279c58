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

A change (the sandbox's change log: account, order, Unix time) counts as told when an
event of that tenant and order whose ``modified_at`` is not older than the change (whole
seconds, as Billbee stamps) reached the callback; its latency is that event's arrival
minus the change's time (two changes of one order between two reads are told by one
event). Missed: no such event by the end of the drain. Prints one JSON document.

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
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
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
from sqlalchemy import func, select

from billhive.billbee.limits import KEY_LIMIT
from billhive.config import generate_dev_secrets, load_settings
from billhive.db import utcnow
from billhive.delivery.signing import new_salt
from billhive.dev.embedded_redis import EmbeddedRedis, free_port
from billhive.feeds.fetch import CONSUMER
from billhive.feeds.models import Feed, FeedWebhook, Resource, WebhookState
from billhive.feeds.service import switch_on
from billhive.tokens.models import ApiToken
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


class CallbackReceiver:
    """A local HTTP server that records each feed event's arrival time."""

    def __init__(self) -> None:
        self.arrivals: list[tuple[float, dict[str, Any]]] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.time()
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()
                data = json.loads(body).get("data", {})
                with receiver._lock:
                    receiver.arrivals.append((arrived, data))

            def log_message(self, *args: Any) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def __enter__(self) -> CallbackReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()

    def snapshot(self) -> list[tuple[float, dict[str, Any]]]:
        with self._lock:
            return list(self.arrivals)


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
        response = httpx.request(
            method, f"{self.sandbox_url}/api/v1/_sandbox/{path}", json=body, timeout=30
        )
        response.raise_for_status()
        return response.json() if response.content else None

    def close(self) -> None:
        self.runtime.close()


def prepare(plat: Platform, tenants: int, callback_url: str) -> None:
    """Tenants with their orders feed on, and a token whose callback takes order events."""
    rt = plat.runtime
    create_tenants(rt.database, rt.vault, tenants)
    with rt.database.session() as session:
        for tenant_id in range(1, tenants + 1):
            switch_on(session, tenant_id, [Resource.ORDERS])
        session.add(
            ApiToken(
                public_id=new_salt()[:16],
                secret_hash="0" * 64,
                name="bench-feeds",
                callback_url=callback_url,
                callback_salt=new_salt(),
                callback_registered_at=utcnow(),
                callback_events=["order.created", "order.changed"],
            )
        )
        session.commit()


def wait_registered(plat: Platform, tenants: int, timeout: float) -> float:
    """Seconds until every tenant's webhook is registered (RuntimeError after ``timeout``)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with plat.runtime.database.session() as session:
            done = session.scalar(
                select(func.count())
                .select_from(FeedWebhook)
                .where(FeedWebhook.state == WebhookState.REGISTERED)
            )
        if done == tenants:
            return time.monotonic() - started
        time.sleep(1)
    raise RuntimeError(f"only {done} of {tenants} webhooks registered within {timeout} s")


def wait_first_passes(plat: Platform, timeout: float) -> float:
    """Seconds until every feed finished its first pass (so the window starts quiet)."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        with plat.runtime.database.session() as session:
            left = session.scalar(
                select(func.count())
                .select_from(Feed)
                .where((Feed.last_polled_at.is_(None)) | (Feed.call_id.is_not(None)))
            )
        if not left:
            return time.monotonic() - started
        time.sleep(1)
    return time.monotonic() - started


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


def change_log(plat: Platform) -> list[dict[str, Any]]:
    """The sandbox's whole change log."""
    out: list[dict[str, Any]] = []
    after = 0
    while True:
        page = plat.control("GET", f"changes?after={after}&limit=100000")
        out.extend(page["items"])
        if not page["items"]:
            return out
        after = page["next_after"]


def match(
    changes: list[dict[str, Any]], arrivals: list[tuple[float, dict[str, Any]]]
) -> tuple[list[float], int]:
    """Each change's latency to the first event that told it; and how many were missed."""
    told: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for arrived, data in arrivals:
        modified = data.get("modified_at")
        if modified is None:
            continue
        key = (int(data["tenant_id"]), str(data["record_id"]))
        told.setdefault(key, []).append((datetime.fromisoformat(modified).timestamp(), arrived))
    latencies: list[float] = []
    missed = 0
    for change in changes:
        at = float(change["at"])
        candidates = [
            arrived
            for modified, arrived in told.get((change["account_id"], str(change["order_id"])), [])
            if modified >= math.floor(at)
        ]
        if candidates:
            latencies.append(max(0.0, min(candidates) - at))
        else:
            missed += 1
    return latencies, missed


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
    prepare(plat, args.tenants, receiver.url)
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
                wait_registered(plat, args.tenants, timeout=args.tenants * 2 + 120), 1
            )
        setup["first_passes_s"] = round(wait_first_passes(plat, timeout=120), 1)
        plat.control("POST", "reset-stats")
        begun, started = utcnow(), time.monotonic()
        plat.control("PUT", "changes/generator", {"per_account_per_minute": args.rate})
        time.sleep(args.seconds)
        plat.control("PUT", "changes/generator", {"per_account_per_minute": 0})
        elapsed, ended = time.monotonic() - started, utcnow()
        sandbox = plat.control("GET", "stats")
        hooks = plat.control("GET", "webhooks")
        fetches = feed_fetches(plat, begun, ended)
        changes = change_log(plat)
        deadline = time.monotonic() + args.drain
        latencies, missed = match(changes, receiver.snapshot())
        while missed and time.monotonic() < deadline:
            time.sleep(5)
            latencies, missed = match(changes, receiver.snapshot())
        drained = args.drain - max(0.0, deadline - time.monotonic())
    per_s = fetches / elapsed
    total = sandbox["total"]
    result: dict[str, Any] = {
        "tenants": args.tenants,
        "seconds": round(elapsed, 1),
        "rate_per_account_per_minute": args.rate,
        "setup": setup,
        "changes": len(changes),
        "events_received": len(receiver.snapshot()),
        "missed": missed,
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
