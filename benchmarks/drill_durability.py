"""Durability drills: real processes killed, real servers restarted, nothing lost.

Each drill starts the platform's real parts (a PostgreSQL database, a redis-server, the
Billbee sandbox under gunicorn, ``billhive worker`` and ``billhive scheduler`` processes),
queues calls for many tenants, injects one failure, and waits until every call is final:

* ``redis-empty``: Redis is killed (SIGKILL) with calls queued and running, and comes back
  empty (no persistence, a failover to a replica that lagged);
* ``redis-aof``: Redis keeps an append-only file; it is killed and the file loses its last
  writes (the last second of ``appendfsync everysec``) before Redis starts from it;
* ``worker-kill``: every worker process is SIGKILLed in the middle of slow calls while
  Redis restarts empty; new workers start;
* ``collector-kill``: the callback collector is SIGKILLed between reading finished calls
  and committing their delivery rows; every callback must still arrive, under one
  delivery id per call;
* ``postgres-restart``: a private PostgreSQL server is stopped (immediate, like a crash)
  and started again while ``billhive web`` takes enqueues over HTTP and the workers run;
* ``feeds``: change feeds with Billbee webhooks while the sandbox changes orders; the
  workers (and the scheduler) are SIGKILLed twice while Redis comes back empty, then from
  its append-only file: no change missed, none told under two event ids, every event
  delivered (benchmarks/drill_feeds.py, which names its own figures).

Every call queued is one of two kinds: ``orders.list`` (a read) or ``customers.create``
(a non-idempotent write with a unique e-mail). Figures per drill: calls ``enqueued``,
``finished`` (any final status), ``lost`` (not final when the drill gave up),
``sent_twice`` (customers the sandbox holds more than once), ``out_of_order`` (tenants
with a call that started before an earlier write of theirs finished: the ordering rule
of docs/scheduling.md; reads may run side by side), ``recover_seconds`` (from the failure
until every call was final). Targets: lost 0, sent_twice 0, out_of_order 0.

    .venv/bin/python benchmarks/drill_durability.py [--drill all|redis-empty|...]
        [--tenants 30] [--calls 10] [--database-url URL] [--lease 20]
        [--reconcile-every 15] [--timeout 240] [--rate 6] [--feed-seconds 45]

Prints one JSON document: ``{"drills": [...], "ok": true|false}``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
from common import (
    DEFAULT_DATABASE_URL,
    bench_password,
    bench_username,
    create_tenants,
    wait_http,
)
from common import fresh_database as fresh_bench_database
from drill_feeds import drill_feeds, feed_settings
from feed_checks import sandbox_control
from sqlalchemy import func, select, text, update

from billhive.billbee.client import BillbeeClient
from billhive.billbee.operations import get_operation
from billhive.config import generate_dev_secrets, load_settings
from billhive.db import Database, upgrade
from billhive.delivery.models import CallbackDelivery
from billhive.dev.embedded_redis import EmbeddedRedis, free_port
from billhive.platform.api.tokens import create_token
from billhive.sandbox.stats import key_label
from billhive.tenants.vault import Vault
from billhive.tokens.models import ApiToken
from billhive.workers.calls import CallRequest, enqueue_calls
from billhive.workers.models import FINAL_STATUSES, Call, CallStatus
from billhive.workers.runtime import Runtime

API_KEY = "drill-platform-key"
#: The drill's own reads of the sandbox (who holds which customer) use another key, so they
#: never take from the platform's budget.
AUDIT_KEY = "drill-audit-key"
DRILLS = (
    "redis-empty",
    "redis-aof",
    "worker-kill",
    "collector-kill",
    "postgres-restart",
    "feeds",
)
#: Figures that must be 0 (those a drill reports).
ZERO_FIGURES = (
    "lost",
    "sent_twice",
    "out_of_order",
    "callbacks_missing",
    "calls_with_two_delivery_ids",
    "api_5xx_other_than_503",
    "changes_missed",
    "changes_told_under_two_ids",
    "events_not_delivered",
)


# -- the parts ------------------------------------------------------------------------------


class Sandbox:
    """The Billbee sandbox under gunicorn, with the drill's accounts and both keys."""

    def __init__(self, workdir: Path, accounts: int, latency: str) -> None:
        seed = workdir / "seed.json"
        seed.write_text(
            json.dumps(
                {
                    "api_keys": [API_KEY, AUDIT_KEY],
                    "accounts": [
                        {"id": n, "username": bench_username(n), "password": bench_password(n)}
                        for n in range(1, accounts + 1)
                    ],
                }
            )
        )
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                *billhive_argv("sandbox"),
                "--port",
                str(self.port),
                "--seed",
                str(seed),
                "--no-demo",
                "--latency",
                latency,
                "--threads",
                "64",
            ],
            env={**os.environ, "BILLHIVE_ENV": "test", "BILLHIVE_LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        wait_http(self.url + "/api/v1/_sandbox/health")

    def latency(self, spec: dict[str, Any]) -> None:
        """Change the sandbox's added latency (``{"kind": "fixed", "ms": 1500}``)."""
        sandbox_control(self.url, "PATCH", "settings", {"latency": spec})

    def throttled(self) -> int:
        """429s the sandbox answered the platform's key since it started."""
        stats = httpx.get(self.url + "/api/v1/_sandbox/stats", timeout=10).json()
        return int(stats["keys"].get(key_label(API_KEY), {}).get("throttled", 0))

    def customers_with_email(self, tenant_id: int) -> dict[str, int]:
        """How many customers of the tenant's account hold each e-mail."""
        counts: dict[str, int] = {}
        with BillbeeClient(
            AUDIT_KEY,
            bench_username(tenant_id),
            bench_password(tenant_id),
            base_url=self.url + "/api/v1",
            timeout=30,
        ) as client:
            for customer in client.iter_items("customers.list", page_size=250):
                email = customer.get("Email") or ""
                counts[email] = counts.get(email, 0) + 1
        return counts

    def stop(self) -> None:
        stop_group(self.process)


class RedisServer:
    """A redis-server on a fixed port that can be killed and started again."""

    def __init__(self, workdir: Path, *, persist: bool) -> None:
        self.data_dir = workdir / "redis"
        self.persist = persist
        self.port = free_port()
        self.server = EmbeddedRedis(self.data_dir, self.port, persist=persist).start()
        self.url = self.server.url

    def kill(self) -> None:
        """SIGKILL: no shutdown save, no goodbye."""
        assert self.server.process is not None
        self.server.process.kill()
        self.server.process.wait()

    def start_again(self, *, empty: bool) -> None:
        """Start on the same port; ``empty`` throws the data directory away first."""
        if empty:
            shutil.rmtree(self.data_dir, ignore_errors=True)
        self.server = EmbeddedRedis(self.data_dir, self.port, persist=self.persist).start()

    def lose_last_writes(self, fraction: float) -> int:
        """Cut the newest ``fraction`` of the append-only file's increments (what an
        fsync every second can lose); returns the bytes cut."""
        files = sorted(self.data_dir.rglob("*.incr.aof"), key=lambda p: p.stat().st_mtime)
        if not files:
            files = sorted(self.data_dir.rglob("*.aof"), key=lambda p: p.stat().st_mtime)
        newest = files[-1]
        size = newest.stat().st_size
        cut = int(size * fraction)
        with newest.open("r+b") as handle:
            handle.truncate(size - cut)
        return cut

    def stop(self) -> None:
        self.server.stop()


class PrivatePostgres:
    """A PostgreSQL server of the drill's own, so restarting it disturbs nobody else."""

    def __init__(self, workdir: Path) -> None:
        found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
        if not found:
            raise RuntimeError("no PostgreSQL server binaries (apt-get install postgresql)")
        self.bin = found[-1].parent
        self.data = workdir / "pgdata"
        self.sockets = workdir / "pgsock"
        self.port = free_port()
        self.url = f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/postgres"
        for folder in (self.data, self.sockets):
            folder.mkdir(parents=True)
        self._as_owner(
            [
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-A",
                "trust",
                "-U",
                "postgres",
                "--no-sync",
            ]
        )
        self.start()

    def _as_owner(self, argv: list[str]) -> None:
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            for folder in (self.data.parent, self.data, self.sockets):
                shutil.chown(folder, "postgres", "postgres")
            argv = ["runuser", "-u", "postgres", "--", *argv]
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def start(self) -> None:
        options = (
            f"-p {self.port} -k {self.sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
            " -c max_connections=200"
        )
        self._as_owner(
            [str(self.bin / "pg_ctl"), "-D", str(self.data), "-o", options, "-w", "start"]
        )

    def stop(self, mode: str = "fast") -> None:
        self._as_owner([str(self.bin / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])


def billhive_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "billhive.cli", *args]


def stop_group(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    """Stop a process started in its own session, and everything it started."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)


class Stack:
    """One drill's platform: settings, database, Redis, sandbox, processes."""

    def __init__(
        self,
        workdir: Path,
        database_url: str,
        *,
        tenants: int,
        persist_redis: bool,
        lease: float,
        reconcile_every: int,
        latency: str = "lognormal:100:0.3",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.workdir = workdir
        self.tenants = range(1, tenants + 1)
        self.processes: dict[str, subprocess.Popen[bytes]] = {}
        self.redis = RedisServer(workdir, persist=persist_redis)
        try:
            self.sandbox = Sandbox(workdir, tenants, latency)
        except BaseException:
            self.redis.stop()
            raise
        secrets = {
            k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()
        }
        secrets["billbee_api_key"] = API_KEY
        values = {
            **secrets,
            "env": "test",
            "database_url": database_url,
            "redis_url": self.redis.url,
            "billbee_base_url": self.sandbox.url + "/api/v1",
            "billbee_timeout": 5.0,
            "call_lease_seconds": lease,
            # The drill's callback receiver listens on loopback, which callbacks may not
            # reach unless an operator allows it (docs/security.md).
            "callback_allowed_networks": "127.0.0.0/8",
            "reconcile_interval_seconds": reconcile_every,
            "instance_path": str(workdir / "instance"),
            "log_level": "WARNING",
            **(extra or {}),
        }
        self.env = {
            **os.environ,
            **{f"BILLHIVE_{k.upper()}": str(v) for k, v in values.items()},
        }
        self.settings = load_settings(**values)
        self.runtime = Runtime.from_settings(self.settings)
        try:
            create_tenants(self.runtime.database, Vault.from_settings(self.settings), tenants)
        except BaseException:
            self.close()
            raise

    def start(self, name: str, *args: str) -> None:
        log = (self.workdir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            billhive_argv(*args),
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        process = self.processes.pop(name, None)
        if process is not None:
            stop_group(process, sig)

    def close(self) -> None:
        for name in list(self.processes):
            self.stop(name)
        self.runtime.close()
        self.sandbox.stop()
        self.redis.stop()

    def enqueue(self, per_tenant: int, *, write_first: bool = False) -> dict[int, list[int]]:
        """Each tenant: ``per_tenant`` calls, one of them a customers.create (in the middle,
        or first); returns the call ids per tenant, in enqueue order."""
        made: dict[int, list[int]] = {}
        with self.runtime.database.session() as session:
            for tenant in self.tenants:
                requests = [
                    CallRequest("orders.list", {"page": 1, "pageSize": 5})
                    for _ in range(per_tenant - 1)
                ]
                write = CallRequest(
                    "customers.create",
                    body={"Name": f"Drill {tenant}", "Email": f"drill-{tenant}@example.com"},
                )
                requests.insert(0 if write_first else len(requests) // 2, write)
                calls = enqueue_calls(
                    tenant,
                    requests,
                    session=session,
                    redis=self.runtime.redis,
                    vault=self.runtime.vault,
                )
                made[tenant] = [c.id for c in calls]
        return made

    def count(self, statuses: frozenset[CallStatus] | set[CallStatus]) -> int:
        with self.runtime.database.session() as session:
            return int(
                session.scalar(
                    select(func.count()).select_from(Call).where(Call.status.in_(statuses))
                )
                or 0
            )

    def wait_final(self, total: int, timeout: float, *, since: float) -> float | None:
        """Seconds from ``since`` (a monotonic time: the failure) until ``total`` calls
        are final, or None when ``timeout`` passed first."""
        while time.monotonic() - since < timeout:
            with contextlib.suppress(Exception):  # the database may be restarting
                if self.count(FINAL_STATUSES) >= total:
                    return round(time.monotonic() - since, 1)
            time.sleep(0.25)
        return None

    def audit(self, made: dict[int, list[int]]) -> dict[str, Any]:
        """Lost, sent twice, out of order, and the final statuses."""
        ids = [i for calls in made.values() for i in calls]
        with self.runtime.database.session() as session:
            rows = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(ids))).all()}
        statuses: dict[str, int] = {}
        for call in rows.values():
            statuses[call.status.value] = statuses.get(call.status.value, 0) + 1
        out_of_order = sum(1 for calls in made.values() if not _in_order([rows[i] for i in calls]))
        sent_twice = 0
        for tenant in made:
            held = self.sandbox.customers_with_email(tenant)
            if held.get(f"drill-{tenant}@example.com", 0) > 1:
                sent_twice += 1
        lost = sum(1 for i in ids if rows[i].status not in FINAL_STATUSES)
        return {
            "enqueued": len(ids),
            "finished": len(ids) - lost,
            "lost": lost,
            "sent_twice": sent_twice,
            "out_of_order": out_of_order,
            "throttled_429": self.sandbox.throttled(),
            "statuses": statuses,
        }


def _in_order(calls: list[Call]) -> bool:
    """Whether one tenant's calls (in queue order) kept the ordering rule: no call started
    before an earlier write of the tenant finished (docs/scheduling.md; the drill's calls
    carry no ordering key, so every write is a whole-tenant write)."""
    writes_done_by = None
    for call in calls:
        started = call.started_at
        if writes_done_by is not None and started is not None and started < writes_done_by:
            return False
        if not get_operation(call.operation).reads_only and call.finished_at is not None:
            writes_done_by = max(writes_done_by or call.finished_at, call.finished_at)
    return True


def recovered_total(stack: Stack) -> int:
    with stack.runtime.database.session() as session:
        value = session.execute(text("SELECT recovered_total FROM reconciler_state")).scalar()
    return int(value or 0)


# -- the drills -----------------------------------------------------------------------------


def _wait_some_done(stack: Stack, share: float, total: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while stack.count(FINAL_STATUSES) < total * share and time.monotonic() < deadline:
        time.sleep(0.1)


def drill_redis(stack: Stack, args: argparse.Namespace, *, aof: bool) -> dict[str, Any]:
    stack.start("worker", "worker", "--concurrency", str(args.workers))
    stack.start("scheduler", "scheduler")
    made = stack.enqueue(args.calls)
    total = sum(len(c) for c in made.values())
    _wait_some_done(stack, 0.25, total)
    done_before = stack.count(FINAL_STATUSES)
    failed_at = time.monotonic()
    stack.redis.kill()
    cut = stack.redis.lose_last_writes(0.3) if aof else 0
    stack.redis.start_again(empty=not aof)
    recover = stack.wait_final(total, args.timeout, since=failed_at)
    return {
        **stack.audit(made),
        "final_before_failure": done_before,
        "aof_bytes_cut": cut,
        "recovered_by_reconciler": recovered_total(stack),
        "recover_seconds": recover,
    }


def drill_worker_kill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    stack.sandbox.latency({"kind": "fixed", "ms": 2500})
    stack.start("worker", "worker", "--concurrency", str(args.workers))
    stack.start("scheduler", "scheduler")
    # The writes first: they are the calls in flight when the workers die.
    made = stack.enqueue(args.calls, write_first=True)
    total = sum(len(c) for c in made.values())
    deadline = time.monotonic() + 30
    while stack.count({CallStatus.RUNNING}) < min(args.workers, 3) and time.monotonic() < deadline:
        time.sleep(0.05)
    running = stack.count({CallStatus.RUNNING})
    failed_at = time.monotonic()
    stack.stop("worker", signal.SIGKILL)
    stack.redis.kill()
    stack.redis.start_again(empty=True)
    stack.sandbox.latency({"kind": "lognormal", "ms": 100, "sigma": 0.3})
    stack.start("worker", "worker", "--concurrency", str(args.workers))
    recover = stack.wait_final(total, args.timeout, since=failed_at)
    return {
        **stack.audit(made),
        "running_when_killed": running,
        "recovered_by_reconciler": recovered_total(stack),
        "recover_seconds": recover,
    }


class Receiver:
    """A callback receiver: counts POSTs per call and per delivery id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.deliveries: dict[str, set[str]] = {}  # call id -> delivery ids
        self.posts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                call_id = str(json.loads(body)["call"]["id"])
                with receiver.lock:
                    receiver.posts += 1
                    receiver.deliveries.setdefault(call_id, set()).add(
                        self.headers.get("Billhive-Delivery", "")
                    )
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@contextmanager
def table_locked(database_url: str) -> Iterator[None]:
    """Hold a write lock on the delivery log, so a collector blocks right before its
    commit: between reading the finished calls and recording their deliveries."""
    database = Database(database_url, pool=False)
    with database.engine.connect() as connection:
        if database.engine.dialect.name == "postgresql":
            transaction = connection.begin()
            connection.execute(text("LOCK TABLE api_callback_deliveries IN EXCLUSIVE MODE"))
        else:
            connection.exec_driver_sql("BEGIN EXCLUSIVE")
            transaction = None
        try:
            yield
        finally:
            if transaction is not None:
                transaction.rollback()
            else:
                connection.exec_driver_sql("ROLLBACK")
    database.dispose()


def drill_collector_kill(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    receiver = Receiver()
    with stack.runtime.database.session() as session:
        token_id = create_token(session, "drill").token.id
        session.execute(
            update(ApiToken)
            .where(ApiToken.id == token_id)
            .values(callback_url=receiver.url, callback_salt="drill-salt")
        )
        session.commit()
    made = stack.enqueue(args.calls)
    ids = [i for calls in made.values() for i in calls]
    with stack.runtime.database.session() as session:
        session.execute(update(Call).where(Call.id.in_(ids)).values(origin_token_id=token_id))
    total = len(ids)
    stack.start("worker", "worker", "--concurrency", str(args.workers))
    stack.wait_final(total, args.timeout, since=time.monotonic())
    collector_code = (
        "from billhive.delivery.outbox import collect_finished_calls; collect_finished_calls()"
    )
    with table_locked(stack.settings.effective_database_url):
        collector = subprocess.Popen(
            [sys.executable, "-c", collector_code],
            env=stack.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        time.sleep(3)  # it has read the finished calls and waits on the lock
        blocked = collector.poll() is None
        stop_group(collector, signal.SIGKILL)
    with stack.runtime.database.session() as session:
        rows_after_kill = session.scalar(select(func.count()).select_from(CallbackDelivery))
    killed_at = time.monotonic()
    stack.start("scheduler", "scheduler")
    while len(receiver.deliveries) < total and time.monotonic() - killed_at < args.timeout:
        time.sleep(0.25)
    delivered = time.monotonic() - killed_at
    result = stack.audit(made)
    with receiver.lock:
        per_call = {call: len(ids_) for call, ids_ in receiver.deliveries.items()}
        posts = receiver.posts
    receiver.server.shutdown()
    return {
        **result,
        "collector_blocked_when_killed": blocked,
        "delivery_rows_after_kill": rows_after_kill,
        "calls_called_back": len(per_call),
        "callbacks_missing": total - len(per_call),
        "calls_with_two_delivery_ids": sum(1 for n in per_call.values() if n > 1),
        "posts": posts,
        "recover_seconds": round(delivered, 1),
    }


def drill_postgres_restart(stack: Stack, args: argparse.Namespace) -> dict[str, Any]:
    port = free_port()
    stack.start("web", "web", "--port", str(port), "--workers", "2")
    stack.start("worker", "worker", "--concurrency", str(args.workers))
    stack.start("scheduler", "scheduler")
    base = f"http://127.0.0.1:{port}"
    wait_http(base + "/healthz")
    with stack.runtime.database.session() as session:
        token = create_token(session, "drill").plaintext
    made = stack.enqueue(args.calls)
    accepted: list[int] = []
    answers: dict[str, int] = {}
    stop = threading.Event()

    def post_calls() -> None:
        tenants = list(stack.tenants)
        n = 0
        with httpx.Client(base_url=base, timeout=10) as client:
            while not stop.is_set():
                tenant = tenants[n % len(tenants)]
                n += 1
                try:
                    response = client.post(
                        f"/api/v1/tenants/{tenant}/calls",
                        json={"operation": "orders.list", "params": {"page": 1}},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                    key = str(response.status_code)
                    if response.status_code == 202:
                        accepted.append(int(response.json()["id"]))
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                answers[key] = answers.get(key, 0) + 1
                time.sleep(0.05)

    poster = threading.Thread(target=post_calls, daemon=True)
    poster.start()
    time.sleep(3)
    server: PrivatePostgres = args.private_postgres
    failed_at = time.monotonic()
    server.stop("immediate")
    time.sleep(5)
    server.start()
    time.sleep(5)
    stop.set()
    poster.join()
    total = sum(len(c) for c in made.values()) + len(accepted)
    recover = stack.wait_final(total, args.timeout, since=failed_at)
    # The calls accepted over HTTP belong to several tenants: no order check across them.
    result = stack.audit(made)
    with stack.runtime.database.session() as session:
        unfinished = session.scalar(
            select(func.count())
            .select_from(Call)
            .where(Call.id.in_(accepted), Call.status.not_in(FINAL_STATUSES))
        )
    result["enqueued"] += len(accepted)
    result["lost"] += int(unfinished or 0)
    result["finished"] = result["enqueued"] - result["lost"]
    return {
        **result,
        "api_answers": answers,
        "api_5xx_other_than_503": sum(
            n for code, n in answers.items() if code.startswith("5") and code != "503"
        ),
        "recover_seconds": recover,
    }


# -- running --------------------------------------------------------------------------------


def run_drill(name: str, args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"drill-{name}-") as tmp:
        workdir = Path(tmp)
        pg: PrivatePostgres | None = None
        if name == "postgres-restart":
            pg = PrivatePostgres(workdir)
            args.private_postgres = pg
            database = contextlib.nullcontext(_migrated(pg.url))
        else:
            database = fresh_bench_database(args.database_url, name.replace("-", "_"), workdir)
        try:
            with database as database_url:
                stack = Stack(
                    workdir,
                    database_url,
                    tenants=args.tenants,
                    persist_redis=name in {"redis-aof", "feeds"},
                    lease=args.lease,
                    reconcile_every=args.reconcile_every,
                    extra=feed_settings() if name == "feeds" else None,
                )
                try:
                    started = time.monotonic()
                    figures = DRILL_FUNCTIONS[name](stack, args)
                finally:
                    stack.close()
        finally:
            if pg is not None:
                with contextlib.suppress(subprocess.CalledProcessError):
                    pg.stop("immediate")
    ok = all(figures.get(figure, 0) == 0 for figure in ZERO_FIGURES)
    return {"drill": name, "ok": ok, "seconds": round(time.monotonic() - started, 1), **figures}


def _migrated(url: str) -> str:
    upgrade(url)
    return url


DRILL_FUNCTIONS: dict[str, Callable[[Stack, argparse.Namespace], dict[str, Any]]] = {
    "redis-empty": lambda stack, args: drill_redis(stack, args, aof=False),
    "redis-aof": lambda stack, args: drill_redis(stack, args, aof=True),
    "worker-kill": drill_worker_kill,
    "collector-kill": drill_collector_kill,
    "postgres-restart": drill_postgres_restart,
    "feeds": drill_feeds,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--drill", default="all", choices=["all", *DRILLS])
    parser.add_argument("--tenants", type=int, default=30)
    parser.add_argument("--calls", type=int, default=10, help="calls per tenant")
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--lease", type=float, default=20.0, help="BILLHIVE_CALL_LEASE_SECONDS")
    parser.add_argument(
        "--reconcile-every",
        type=int,
        default=15,
        help="BILLHIVE_RECONCILE_INTERVAL_SECONDS",
    )
    parser.add_argument("--timeout", type=float, default=240.0)
    parser.add_argument(
        "--rate", type=float, default=6.0, help="feeds: changes per account per minute"
    )
    parser.add_argument(
        "--feed-seconds", type=float, default=45.0, help="feeds: how long changes are made"
    )
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    names = DRILLS if args.drill == "all" else (args.drill,)
    results = [run_drill(name, args) for name in names]
    print(json.dumps({"drills": results, "ok": all(r["ok"] for r in results)}, indent=2))


if __name__ == "__main__":
    main()
