"""Admin dashboard on PostgreSQL with 100,000 tenants and 1,000,000 calls: p95 of the
tenants list and the tenant page through the Flask test client, as JSON.

Creates a throw-away database next to BILLHIVE_DATABASE_URL's (default: the local
``postgres`` server), migrates it, fills it with COPY, runs ANALYZE, logs an admin in and
requests each page ~200 times. Redis is an embedded redis-server unless
BILLHIVE_REDIS_URL is set. Target: p95 <= 100 ms for both pages.

    .venv/bin/python benchmarks/bench_admin.py [--tenants 100000] [--calls 1000000]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from common import fresh_database
from sqlalchemy import text

from billhive.config import generate_dev_secrets, load_settings
from billhive.db import Database
from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.platform import create_app
from billhive.platform.admin.accounts import create_admin
from billhive.tenants.vault import Vault

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
EMAIL, PASSWORD = "bench@example.com", "benchmark admin password"
STATUSES = ["active"] * 90 + ["paused"] * 4 + ["credentials_invalid"] * 3 + ["disabled"] * 2
STATUSES += ["deleted"]
CALL_STATUSES = ["succeeded"] * 90 + ["failed"] * 6 + ["queued"] * 2 + ["unknown_outcome"]
CALL_STATUSES += ["cancelled"]
OPERATIONS = ["orders.get", "orders.find", "products.get", "products.update_stock", "customers.get"]
WORDS = ["acme", "bolt", "kraeuter", "nord", "sued", "bio", "mode", "tech", "haus", "shop"]
NOW = datetime.now(UTC)


def _copy(database: Database, table: str, columns: str, rows: Iterator[tuple[Any, ...]]) -> None:
    raw = database.engine.raw_connection()
    try:
        cursor = raw.cursor()
        with cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:  # type: ignore[attr-defined]
            for row in rows:
                copy.write_row(row)
        raw.commit()
    finally:
        raw.close()


def _tenant_rows(count: int, vault: Vault, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for n in range(1, count + 1):
        word = rng.choice(WORDS)
        status = rng.choice(STATUSES)
        created = NOW - timedelta(minutes=count - n)
        index = None if status == "deleted" else vault.blind_index(f"user{n}@shop.example")
        yield (
            n,
            f"{word.title()} {rng.choice(WORDS)} {n}",
            # (contact e-mails are sealed with a data key these rows do not have: none)
            index,
            status,
            False,
            created,
            created,
        )


def _call_rows(count: int, tenants: int, rng: random.Random) -> Iterator[tuple[Any, ...]]:
    for n in range(1, count + 1):
        status = rng.choice(CALL_STATUSES)
        enqueued = NOW - timedelta(seconds=(count - n) * 2)
        started = None if status in ("queued", "cancelled") else enqueued + timedelta(seconds=0.2)
        finished = None if started is None else started + timedelta(seconds=0.3)
        failed = status in ("failed", "unknown_outcome")
        # A fifth of the calls belong to the first hundred tenants: some tenants are busy.
        tenant = rng.randint(1, min(100, tenants)) if n % 5 == 0 else rng.randint(1, tenants)
        yield (
            n,
            tenant,
            rng.choice(OPERATIONS),
            # (payloads are sealed per tenant; the list pages never open them: none here)
            status,
            3 if failed else 1,
            500 if failed else (200 if started else None),
            "Billbee answered 500" if failed else None,
            False,
            enqueued,
            started,
            finished,
        )


def _usage_rows(tenants: int, days: int) -> Iterator[tuple[Any, ...]]:
    today = NOW.date()
    for tenant in range(1, tenants + 1):
        for day in range(days):
            yield (tenant, today - timedelta(days=day), 100 + (tenant + day) % 50, day % 3)


def _audit_rows(tenants: int) -> Iterator[tuple[Any, ...]]:
    for tenant in range(1, tenants + 1):
        yield (tenant, "merchant", "signed_up", None, "active", "", NOW, "{}")


def fill(database: Database, vault: Vault, tenants: int, calls: int) -> dict[str, float]:
    """Bulk-load the tables; returns seconds per table."""
    rng = random.Random(42)
    timings: dict[str, float] = {}
    started = time.perf_counter()
    _copy(
        database,
        "tenants",
        "id, display_name, username_index, status, invoice_creation_allowed, "
        "created_at, updated_at",
        _tenant_rows(tenants, vault, rng),
    )
    timings["tenants_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    _copy(
        database,
        "calls",
        "id, tenant_id, operation, status, attempts, http_status, error, "
        "result_truncated, enqueued_at, started_at, finished_at",
        _call_rows(calls, tenants, rng),
    )
    timings["calls_s"] = round(time.perf_counter() - started, 1)
    started = time.perf_counter()
    _copy(
        database,
        "usage_days",
        "tenant_id, day, calls, throttled",
        _usage_rows(min(tenants, 20_000), 30),
    )
    _copy(
        database,
        "audit_events",
        "tenant_id, actor, action, from_status, to_status, reason, created_at, details",
        _audit_rows(tenants),
    )
    with database.engine.begin() as conn:
        conn.execute(text("SELECT setval('tenants_id_seq', (SELECT max(id) FROM tenants))"))
        conn.execute(text("SELECT setval('calls_id_seq', (SELECT max(id) FROM calls))"))
    with database.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    timings["rest_s"] = round(time.perf_counter() - started, 1)
    return timings


def _timed(get: Callable[[str], Any], url: str) -> float:
    started = time.perf_counter()
    response = get(url)
    elapsed = (time.perf_counter() - started) * 1000
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")
    return elapsed


def summary(samples: list[float]) -> dict[str, float]:
    """Median, p95 and max of ``samples`` (milliseconds)."""
    samples = sorted(samples)
    return {
        "requests": len(samples),
        "median_ms": round(statistics.median(samples), 2),
        "p95_ms": round(samples[int(len(samples) * 0.95) - 1], 2),
        "max_ms": round(samples[-1], 2),
    }


def measure(get: Callable[[str], Any], urls: list[tuple[str, str]]) -> dict[str, Any]:
    """Request each (kind, URL) once after a short warm-up; figures in milliseconds."""
    for _kind, url in urls[:10]:
        get(url)
    by_kind: dict[str, list[float]] = {}
    for kind, url in urls:
        by_kind.setdefault(kind, []).append(_timed(get, url))
    result: dict[str, Any] = summary([ms for samples in by_kind.values() for ms in samples])
    if len(by_kind) > 1:
        result["p95_ms_by_kind"] = {k: summary(v)["p95_ms"] for k, v in sorted(by_kind.items())}
    return result


def list_url_makers(tenants: int, rng: random.Random) -> dict[str, Callable[[], str]]:
    """What operators do on the list: browse, page, search name/e-mail/username, filter, sort."""
    return {
        "first_page": lambda: "/admin/tenants",
        "deep_page": lambda: f"/admin/tenants?page={rng.randint(2, 200)}",
        "name_prefix": lambda: f"/admin/tenants?q={rng.choice(WORDS)}",
        "short_prefix_by_name": lambda: f"/admin/tenants?q={rng.choice(WORDS)[:2]}&sort=name",
        "email_prefix": lambda: f"/admin/tenants?q=info{rng.randint(1, tenants)}@",
        "username_exact": lambda: f"/admin/tenants?q=user{rng.randint(1, tenants)}@shop.example",
        "rare_status": lambda: f"/admin/tenants?status={rng.choice(['paused', 'deleted'])}",
        "active_by_email": lambda: "/admin/tenants?status=active&sort=email",
        "sorted_by_name": lambda: f"/admin/tenants?sort=name&page={rng.randint(1, 50)}",
    }


def other_urls(tenants: int, calls: int, rng: random.Random, count: int) -> list[tuple[str, str]]:
    """Overview, calls list (filtered, older pages), call page, audit log (filtered)."""
    makers: dict[str, Callable[[], str]] = {
        "overview": lambda: "/admin/",
        "calls_failed": lambda: "/admin/calls?status=failed",
        "calls_of_tenant": lambda: f"/admin/calls?tenant={rng.randint(1, tenants)}",
        "calls_older": lambda: (
            f"/admin/calls?operation=products.get&before={rng.randint(1, calls)}"
        ),
        "call_page": lambda: f"/admin/calls/{rng.randint(1, calls)}",
        "audit_of_tenant": lambda: f"/admin/audit?tenant={rng.randint(1, tenants)}",
        "audit_by_action": lambda: "/admin/audit?action=signed_up",
    }
    return [(kind, makers[kind]()) for kind in rng.choices(list(makers), k=count)]


def _log_in(client: Any) -> None:
    page = client.get("/admin/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page)
    assert token
    data = {"email": EMAIL, "password": PASSWORD, "csrf_token": token.group(1)}
    if client.post("/admin/login", data=data).status_code != 302:
        raise RuntimeError("benchmark admin could not log in")


def run(base_url: str, redis_url: str, tenants: int, calls: int, requests: int) -> dict[str, Any]:
    """Fill a scratch database, then time both pages."""
    secrets = {k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()}
    with fresh_database(base_url, "admin") as url, tempfile.TemporaryDirectory() as instance:
        settings = load_settings(
            env="test", database_url=url, redis_url=redis_url, instance_path=instance, **secrets
        )
        database = Database(url)
        fill_times = fill(database, Vault.from_settings(settings), tenants, calls)
        with database.session() as session:
            create_admin(session, EMAIL, PASSWORD)
        database.dispose()
        app = create_app(settings)
        client = app.test_client()
        _log_in(client)
        rng = random.Random(7)
        makers = list_url_makers(tenants, rng)
        list_urls = [(kind, makers[kind]()) for kind in rng.choices(list(makers), k=requests)]
        # Half the tenant pages are of the busiest hundred tenants (most calls and history).
        busiest = min(100, tenants)
        tenant_urls = [
            (
                "tenant",
                f"/admin/tenants/{rng.choice([rng.randint(1, busiest), rng.randint(1, tenants)])}",
            )
            for _ in range(requests)
        ]
        result = {
            "tenants": tenants,
            "calls": calls,
            "fill_seconds": fill_times,
            "tenants_list": measure(client.get, list_urls),
            "tenant_page": measure(client.get, tenant_urls),
            "target_p95_ms": 100,
            # Not part of the target; measured so a slow one shows up.
            "other_pages": measure(client.get, other_urls(tenants, calls, rng, requests // 2)),
        }
        return result


def main() -> int:
    """Run the benchmark and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    base_url = os.environ.get("BILLHIVE_DATABASE_URL") or DEFAULT_URL
    if not base_url.startswith("postgresql"):
        print("bench_admin needs PostgreSQL (BILLHIVE_DATABASE_URL)", file=sys.stderr)
        return 2
    redis_url = os.environ.get("BILLHIVE_REDIS_URL", "")
    if redis_url:
        result = run(base_url, redis_url, args.tenants, args.calls, args.requests)
    else:
        with tempfile.TemporaryDirectory() as data, EmbeddedRedis(Path(data)) as server:
            result = run(base_url, server.url, args.tenants, args.calls, args.requests)
    ok = result["tenants_list"]["p95_ms"] <= 100 and result["tenant_page"]["p95_ms"] <= 100
    result["meets_target"] = ok
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
