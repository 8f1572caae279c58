"""Enqueue throughput of the developer API under gunicorn, printed as JSON.

Targets: at least 500 calls accepted per second, p99 under 50 ms, on PostgreSQL.

Each sample is one complete ``POST /api/v1/tenants/{id}/calls`` over real HTTP to
``billhive web`` (gunicorn, gthread workers): token check, the per-token rate limit on
Redis, body and parameter checks, the Call row, the job on the tenant's queue (dispatcher
and limit buckets in Redis), the call's origin row for callbacks, and the access log line.
Every client thread has its own token (so the per-token limit counts but does not refuse)
and keeps its HTTP connection open, as a real integration would. Calls are spread over
``--tenants`` tenants. Nothing works the queues: this measures accepting calls.
``--batch N`` posts N calls per request to ``/calls/batch`` instead (wrk only).

A fresh PostgreSQL database is created next to ``--database-url`` and dropped afterwards
(SQLite is possible but not the target). Redis is an embedded redis-server.

    .venv/bin/python benchmarks/bench_api.py [--calls 6000] [--clients 12] [--workers 3]
        [--batch 20] [--database-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from pathlib import Path
from typing import Any

from common import create_tenants, fresh_database
from sqlalchemy.engine import make_url

from billhive.config import generate_dev_secrets
from billhive.db import Database
from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.platform.api.tokens import create_token
from billhive.tenants.vault import Keyring, Vault

TARGET_PER_SECOND = 500.0
TARGET_P99_MS = 50.0
DEFAULT_DATABASE = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WARMUP_PER_CLIENT = 10


def _free_port() -> int:
    with closing(socket.socket()) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _seed(
    database_url: str, tenants: int, clients: int, secrets: dict[str, str]
) -> tuple[list[int], list[str]]:
    # Tenants with a data key (their calls' payloads are sealed with it), under the keys
    # the served app gets.
    vault = Vault(
        Keyring.parse(secrets["BILLHIVE_VAULT_KEYS"]),
        base64.b64decode(secrets["BILLHIVE_BLIND_INDEX_KEY"]),
    )
    database = Database(database_url, pool=False)
    try:
        create_tenants(database, vault, tenants)
        tenant_ids = list(range(1, tenants + 1))
        with database.session() as session:
            tokens = [create_token(session, f"bench {i}").plaintext for i in range(clients)]
        return tenant_ids, tokens
    finally:
        database.dispose()


def _wait_for(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/openapi.json")
            if conn.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("billhive web did not come up")


class Client(threading.Thread):
    """One integration: its own token and keep-alive connection, posting calls in a loop."""

    def __init__(self, port: int, token: str, tenant_ids: list[int], calls: int) -> None:
        super().__init__(daemon=True)
        self.port, self.token, self.tenant_ids, self.calls = port, token, tenant_ids, calls
        self.latencies: list[float] = []
        self.statuses: dict[int, int] = {}
        self.start_gate = threading.Event()

    def _post(self, conn: http.client.HTTPConnection, index: int) -> int:
        tenant_id = self.tenant_ids[index % len(self.tenant_ids)]
        body = json.dumps({"operation": "orders.get", "params": {"id": 1000 + index}})
        conn.request(
            "POST",
            f"/api/v1/tenants/{tenant_id}/calls",
            body=body,
            headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"},
        )
        response = conn.getresponse()
        response.read()
        return response.status

    def run(self) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        for i in range(WARMUP_PER_CLIENT):
            self._post(conn, i)
        self.start_gate.wait()
        for i in range(self.calls):
            started = time.perf_counter()
            try:
                status = self._post(conn, i)
            except (OSError, http.client.HTTPException):
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                status = 0
            self.latencies.append((time.perf_counter() - started) * 1000)
            self.statuses[status] = self.statuses.get(status, 0) + 1
        conn.close()


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


@contextmanager
def serving(
    database_url: str,
    redis_url: str,
    workdir: Path,
    workers: int,
    rate_limit: str | None = None,
    *,
    secrets: dict[str, str] | None = None,
) -> Iterator[int]:
    """``billhive web`` (gunicorn) on a free port, stopped afterwards; yields the port."""
    port = _free_port()
    env = {
        **os.environ,
        **(secrets or generate_dev_secrets()),
        **({"BILLHIVE_API_RATE_LIMIT": rate_limit} if rate_limit else {}),
        "BILLHIVE_ENV": "test",
        "BILLHIVE_INSTANCE_PATH": str(workdir / "instance"),
        "BILLHIVE_DATABASE_URL": database_url,
        "BILLHIVE_REDIS_URL": redis_url,
        "BILLHIVE_LOG_JSON": "true",
    }
    argv = [sys.executable, "-m", "billhive.cli", "web", "--port", str(port)]
    web = subprocess.Popen(  # the access log goes nowhere, as it would go to a file
        [*argv, "--workers", str(workers)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(port, time.monotonic() + 60)
        yield port
    finally:
        web.terminate()
        web.wait(timeout=30)


def drive(
    port: int, tokens: list[str], tenant_ids: list[int], calls: int
) -> tuple[list[Client], float]:
    """Post ``calls`` calls from one client thread per token; returns them and the seconds."""
    per_client = calls // len(tokens)
    clients = [Client(port, token, tenant_ids, per_client) for token in tokens]
    for client in clients:
        client.start()
    time.sleep(2.0)  # warm-up requests done, connections open
    started = time.perf_counter()
    for client in clients:
        client.start_gate.set()
    for client in clients:
        client.join()
    return clients, time.perf_counter() - started


def figures(args: argparse.Namespace, clients: list[Client], elapsed: float) -> dict[str, Any]:
    """The benchmark's result as plain data."""
    latencies = [ms for c in clients for ms in c.latencies]
    statuses: dict[int, int] = {}
    for client in clients:
        for status, count in client.statuses.items():
            statuses[status] = statuses.get(status, 0) + count
    accepted = statuses.get(202, 0)
    per_second = accepted / elapsed
    p99 = _percentile(latencies, 0.99)
    return {
        "benchmark": "api_enqueue",
        "database": make_url(args.database_url).get_backend_name(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "load_average_1min": round(os.getloadavg()[0], 2),
        "gunicorn_workers": args.workers,
        "clients": args.clients,
        "tenants": args.tenants,
        "requests": len(latencies),
        "accepted": accepted,
        "statuses": {str(k): v for k, v in sorted(statuses.items())},
        "seconds": round(elapsed, 2),
        "calls_per_second": round(per_second, 1),
        "latency_ms": {
            "p50": round(statistics.median(latencies), 2),
            "p90": round(_percentile(latencies, 0.90), 2),
            "p99": round(p99, 2),
            "max": round(max(latencies), 2),
        },
        "target": {"calls_per_second": TARGET_PER_SECOND, "p99_ms": TARGET_P99_MS},
        "meets_target": per_second >= TARGET_PER_SECOND and p99 < TARGET_P99_MS,
    }


WRK_SCRIPT = """
local tokens = {%(tokens)s}
local tenants = {%(tenants)s}
local batch = %(batch)d
local next_id = 0
function setup(thread) thread:set("id", next_id); next_id = next_id + 1 end
function init(args) token = tokens[(id %% #tokens) + 1]; n = 0 end
local function call(i)
  return '{"operation": "orders.get", "params": {"id": ' .. (1000 + i) .. '}}'
end
function request()
  n = n + 1
  local path = "/api/v1/tenants/" .. tenants[(n %% #tenants) + 1] .. "/calls"
  local body = call(n)
  if batch > 0 then
    local calls = {}
    for i = 1, batch do calls[i] = call(n * batch + i) end
    path = path .. "/batch"
    body = '{"calls": [' .. table.concat(calls, ", ") .. ']}'
  end
  return wrk.format("POST", path, {["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "application/json"}, body)
end
"""
#: wrk's threads each post with one token, so each token carries half the load: the
#: server's per-token limit is raised for the measurement (it is still checked).
WRK_RATE_LIMIT = "5000 per second"


def _ms(text: str) -> float:
    value = float(re.sub(r"[a-z]+$", "", text))
    unit = re.sub(r"^[0-9.]+", "", text)
    return value * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


_JIFFY_MS = 1000 / os.sysconf("SC_CLK_TCK")


def _cpu_jiffies() -> tuple[int, int]:
    """Busy (user, nice, system, irq, softirq) and steal jiffies of all CPUs (Linux)."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return user + nice + system + irq + softirq, steal


def drive_wrk(
    port: int, tokens: list[str], tenant_ids: list[int], args: argparse.Namespace, workdir: Path
) -> dict[str, Any]:
    """Load with wrk (C, event loop: the client costs the machine little CPU)."""
    script = workdir / "enqueue.lua"
    script.write_text(
        WRK_SCRIPT
        % {
            "tokens": ", ".join(f'"{t}"' for t in tokens[:2]),
            "tenants": ", ".join(str(t) for t in tenant_ids),
            "batch": args.batch,
        }
    )
    url = f"http://127.0.0.1:{port}"
    warm = ["wrk", "-t2", f"-c{args.clients}", "-d3s", "-s", str(script), url]
    subprocess.run(warm, capture_output=True, check=True)
    argv = [
        "wrk",
        "-t2",
        f"-c{args.clients}",
        f"-d{args.seconds}s",
        "--latency",
        "-s",
        str(script),
        url,
    ]
    cpu_before = _cpu_jiffies()
    out = subprocess.run(argv, capture_output=True, text=True, check=True).stdout
    busy, steal = (after - before for after, before in zip(_cpu_jiffies(), cpu_before, strict=True))
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    failed = int(non_2xx.group(1)) if non_2xx else 0
    per_second = float(re.search(r"Requests/sec:\s+([0-9.]+)", out).group(1))  # type: ignore[union-attr]
    latency = dict(re.findall(r"^\s+(50|75|90|99)%\s+(\S+)", out, re.MULTILINE))
    accepted_per_second = per_second * (total - failed) / total if total else 0.0
    calls_per_second = accepted_per_second * max(1, args.batch)
    p99 = _ms(latency["99"])
    return {
        "benchmark": "api_enqueue",
        "load": "wrk",
        "database": make_url(args.database_url).get_backend_name(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
        "gunicorn_workers": args.workers,
        "connections": args.clients,
        "tenants": args.tenants,
        "calls_per_request": max(1, args.batch),
        "requests": total,
        "not_accepted": failed,
        "seconds": args.seconds,
        "requests_per_second": round(accepted_per_second, 1),
        "calls_per_second": round(calls_per_second, 1),
        "latency_ms": {k: round(_ms(v), 2) for k, v in sorted(latency.items())},
        # Busy CPU of the whole machine (server, PostgreSQL, Redis, wrk) per request, and
        # the share the hypervisor gave to other guests: steadier than calls/s here.
        "cpu_ms_per_request": round(busy * _JIFFY_MS / total, 3) if total else None,
        "steal_percent": round(100 * steal / (busy + steal), 1) if busy + steal else 0.0,
        "target": {"calls_per_second": TARGET_PER_SECOND, "p99_ms": TARGET_P99_MS},
        "meets_target": calls_per_second >= TARGET_PER_SECOND and p99 < TARGET_P99_MS,
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Run the benchmark; returns its figures."""
    use_wrk = args.load == "wrk" or (args.load == "auto" and shutil.which("wrk"))
    if args.batch and not use_wrk:
        raise SystemExit("--batch needs wrk (apt-get install wrk)")
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with (
            EmbeddedRedis(workdir / "redis") as redis,
            fresh_database(args.database_url, "api", workdir) as database_url,
        ):
            secrets = generate_dev_secrets()
            tenant_ids, tokens = _seed(database_url, args.tenants, args.clients, secrets)
            limit = WRK_RATE_LIMIT if use_wrk else None
            with serving(
                database_url, redis.url, workdir, args.workers, limit, secrets=secrets
            ) as port:
                if use_wrk:
                    return drive_wrk(port, tokens, tenant_ids, args, workdir)
                clients, elapsed = drive(port, tokens, tenant_ids, args.calls)
    return figures(args, clients, elapsed)


def main() -> None:
    """Parse arguments, run, print JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=6000, help="Calls to post in total.")
    parser.add_argument(
        "--load",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="Load generator: wrk when installed (apt-get install wrk), else Python threads.",
    )
    parser.add_argument("--seconds", type=int, default=20, help="Length of a wrk run.")
    parser.add_argument("--clients", type=int, default=12, help="Concurrent client threads.")
    parser.add_argument("--workers", type=int, default=3, help="gunicorn worker processes.")
    parser.add_argument("--tenants", type=int, default=20, help="Tenants the calls go to.")
    parser.add_argument(
        "--batch",
        type=int,
        default=0,
        help="wrk only: post this many calls per request to /calls/batch (0: one call to /calls).",
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE)
    print(json.dumps(run(parser.parse_args()), indent=2))


if __name__ == "__main__":
    main()
