"""Coalescing into Billbee's bulk calls: Billbee calls made and wall time, per kind of call.

For one tenant, ``--calls`` calls of one kind are queued at once (tags with the same Tags,
shipments, orders, stock reads of one SKU each, stock updates) and served by real
``billhive worker`` processes against the sandbox (throttle on, ~150 ms median latency).
Measured: the Billbee calls the sandbox accepted for that merchant, the calls queued, and
the time from the enqueue until every call is final. For comparison, ``--alone`` calls of
the same kind in a shape that does not coalesce (distinct Tags, an order with ``shopId``,
a stock read with ``pageSize``) go out one Billbee call each at the endpoint's 2/s.

Everything is real: PostgreSQL (a throw-away database), an embedded redis-server, the
sandbox under gunicorn, ``billhive worker`` processes. Prints one JSON document.

    .venv/bin/python benchmarks/bench_coalescing.py [--calls 500] [--alone 40]
        [--workers 4] [--kind all|tags|shipments|orders|stock_reads|stock_updates]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from bench_workers import Platform, sandbox_server, workers
from common import (
    DEFAULT_DATABASE_URL,
    bench_password,
    bench_username,
    create_tenants,
    fresh_database,
)
from sqlalchemy import func, select

from billhive.billbee.client import BillbeeClient
from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.workers.calls import CallRequest, enqueue_calls
from billhive.workers.models import FINAL_STATUSES, Call, CallStatus

TENANT = 1
SKUS = [f"BH-001-{n:03d}" for n in range(1, 9)]
SHIPMENT = {"ProviderName": "DHL", "ReceiverAddress": {"City": "Bonn"}}
KINDS = ("tags", "shipments", "orders", "stock_reads", "stock_updates")
#: The most calls one enqueue_calls records at once.
CHUNK = 500

Requests = Callable[[int, list[int]], list[CallRequest]]


def _tags(n: int, orders: list[int]) -> list[CallRequest]:
    return [
        CallRequest("orders.add_tags", {"id": orders[i % len(orders)]}, {"Tags": ["Bench"]})
        for i in range(n)
    ]


def _tags_alone(n: int, orders: list[int]) -> list[CallRequest]:
    return [
        CallRequest("orders.add_tags", {"id": orders[i % len(orders)]}, {"Tags": [f"B{i}"]})
        for i in range(n)
    ]


def _shipments(n: int, orders: list[int]) -> list[CallRequest]:
    return [CallRequest("shipments.create", body=SHIPMENT) for _ in range(n)]


def _orders(n: int, orders: list[int]) -> list[CallRequest]:
    return [CallRequest("orders.create", body={"OrderNumber": f"BENCH-{i}"}) for i in range(n)]


def _orders_alone(n: int, orders: list[int]) -> list[CallRequest]:
    return [
        CallRequest("orders.create", {"shopId": 1}, {"OrderNumber": f"ALONE-{i}"}) for i in range(n)
    ]


def _stock_reads(n: int, orders: list[int]) -> list[CallRequest]:
    return [
        CallRequest("products.stock_multiple", body={"Skus": [SKUS[i % len(SKUS)]]})
        for i in range(n)
    ]


def _stock_reads_alone(n: int, orders: list[int]) -> list[CallRequest]:
    return [
        CallRequest("products.stock_multiple", {"pageSize": 5}, {"Skus": [SKUS[i % len(SKUS)]]})
        for i in range(n)
    ]


def _stock_updates(n: int, orders: list[int]) -> list[CallRequest]:
    return [
        CallRequest("products.update_stock", body={"Sku": SKUS[i % len(SKUS)], "NewQuantity": i})
        for i in range(n)
    ]


COALESCED: dict[str, Requests] = {
    "tags": _tags,
    "shipments": _shipments,
    "orders": _orders,
    "stock_reads": _stock_reads,
    "stock_updates": _stock_updates,
}
ALONE: dict[str, Requests] = {
    "tags": _tags_alone,
    "orders": _orders_alone,
    "stock_reads": _stock_reads_alone,
}


def _accepted(plat: Platform) -> int:
    snapshot = httpx.get(plat.sandbox_url + "/api/v1/_sandbox/stats", timeout=10).json()
    return int(snapshot["accounts"].get(str(TENANT), {}).get("accepted", 0))


def _order_ids(plat: Platform, n: int) -> list[int]:
    base = plat.sandbox_url + "/api/v1"
    username, password = bench_username(TENANT), bench_password(TENANT)
    with BillbeeClient(
        plat.env["BILLHIVE_BILLBEE_API_KEY"], username, password, base_url=base
    ) as c:
        orders = c.call("orders.list", {"page": 1, "pageSize": n}).data
    return [int(o["BillBeeOrderId"]) for o in orders]


def _run(plat: Platform, requests: list[CallRequest], timeout: float) -> dict[str, Any]:
    """Queue ``requests`` for the tenant and wait until each call is final."""
    rt = plat.runtime
    before = _accepted(plat)
    started = time.perf_counter()
    ids: list[int] = []
    with rt.database.session() as session:
        for at in range(0, len(requests), CHUNK):
            chunk = requests[at : at + CHUNK]
            calls = enqueue_calls(TENANT, chunk, session=session, redis=rt.redis, vault=rt.vault)
            ids.extend(c.id for c in calls)
    first, last = min(ids), max(ids)
    while time.perf_counter() - started < timeout:
        with rt.database.session() as session:
            open_calls = session.scalar(
                select(func.count())
                .select_from(Call)
                .where(Call.id.between(first, last), Call.status.not_in(FINAL_STATUSES))
            )
        if not open_calls:
            break
        time.sleep(0.2)
    elapsed = time.perf_counter() - started
    with rt.database.session() as session:
        rows = session.execute(
            select(Call.status, func.count())
            .where(Call.id.between(first, last))
            .group_by(Call.status)
        ).all()
        batches = session.execute(
            select(
                Call.batch_job_id,
                func.count(),
                func.min(Call.enqueued_at),
                func.min(Call.started_at),
                func.max(Call.finished_at),
            )
            .where(Call.id.between(first, last))
            .group_by(Call.batch_job_id)
            .order_by(func.min(Call.started_at))
        ).all()
    timeline = [
        {
            "calls": n,
            "queued_s": round((begun - enqueued).total_seconds(), 2),
            "ran_s": round((ended - begun).total_seconds(), 2),
        }
        for _, n, enqueued, begun, ended in batches
        if begun is not None and ended is not None
    ][:12]
    statuses = {status.value: count for status, count in rows}
    billbee_calls = _accepted(plat) - before
    return {
        "calls": len(requests),
        "billbee_calls": billbee_calls,
        "calls_per_billbee_call": round(len(requests) / max(billbee_calls, 1), 1),
        "seconds": round(elapsed, 2),
        "calls_per_second": round(len(requests) / elapsed, 1),
        "statuses": statuses,
        "first_batches": timeline,
        "all_succeeded": statuses.get(CallStatus.SUCCEEDED.value) == len(requests),
    }


def run_kind(kind: str, args: argparse.Namespace) -> dict[str, Any]:
    """One kind on a fresh database, Redis and sandbox: coalesced, then alone."""
    with (
        fresh_database(args.database_url, "coalescing") as database_url,
        EmbeddedRedis(Path(tempfile.mkdtemp())) as redis,
        sandbox_server(2) as sandbox_url,
    ):
        plat = Platform(database_url, redis.url, sandbox_url)
        try:
            create_tenants(plat.runtime.database, plat.runtime.vault, 2)
            orders = _order_ids(plat, 20)
            with workers(plat, args.workers):
                time.sleep(3)  # the workers register and warm up
                result = {"coalesced": _run(plat, COALESCED[kind](args.calls, orders), 600)}
                if kind in ALONE and args.alone:
                    result["alone"] = _run(plat, ALONE[kind](args.alone, orders), 600)
            return result
        finally:
            plat.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--alone", type=int, default=40)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--kind", choices=("all", *KINDS), default="all")
    parser.add_argument("--database-url", default=DEFAULT_DATABASE_URL)
    args = parser.parse_args()
    kinds = KINDS if args.kind == "all" else (args.kind,)
    report: dict[str, Any] = {
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "sandbox_latency": "lognormal 150 ms",
        "workers": args.workers,
        "kinds": {kind: run_kind(kind, args) for kind in kinds},
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
