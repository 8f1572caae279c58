"""Client overhead per call, network excluded: median and p99 over many calls, as JSON.

The transport is httpx.MockTransport answering a canned Billbee envelope at once, so the
figure is everything billhive and httpx do around the network: parameter checking, URL
and header building, Basic auth, JSON decoding, envelope parsing. Target: median <= 1 ms.

    .venv/bin/python benchmarks/bench_client.py [--calls 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from typing import Any

import httpx

from billhive.billbee.client import BillbeeClient

ORDERS = [
    {"BillBeeOrderId": n, "OrderNumber": f"A-{n}", "State": 2, "TotalCost": 19.99}
    for n in range(1, 51)
]
ENVELOPE = json.dumps(
    {
        "Paging": {"Page": 1, "PageSize": 50, "TotalPages": 3, "TotalRows": 120},
        "ErrorCode": 0,
        "ErrorMessage": None,
        "Data": ORDERS,
    }
).encode()


def _answer(_request: httpx.Request) -> httpx.Response:
    return httpx.Response(200, content=ENVELOPE, headers={"Content-Type": "application/json"})


def _measure(calls: int, call: Any) -> dict[str, float]:
    """Time ``calls`` runs of ``call`` (after a warm-up); figures in milliseconds."""
    for _ in range(min(1000, calls)):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter_ns()
        call()
        samples.append(time.perf_counter_ns() - started)
    samples.sort()
    return {
        "median_ms": round(statistics.median(samples) / 1e6, 4),
        "p99_ms": round(samples[int(len(samples) * 0.99) - 1] / 1e6, 4),
        "max_ms": round(samples[-1] / 1e6, 4),
    }


def main() -> int:
    """Run the benchmark and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20_000)
    args = parser.parse_args()
    client = BillbeeClient(
        "bench-key",
        "bench@example.com",
        "Bench!Passw0rd#1",
        base_url="https://api.billbee.invalid/api/v1",
        transport=httpx.MockTransport(_answer),
    )
    with client:
        list_orders = _measure(
            args.calls,
            lambda: client.call("orders.list", {"page": 1, "page_size": 50, "shop_id": [1, 2]}),
        )
        update_stock = _measure(
            args.calls,
            lambda: client.products.update_stock({"Sku": "S-1", "NewQuantity": 5}),
        )
    result = {
        "benchmark": "client_overhead_per_call",
        "network": "excluded (httpx.MockTransport)",
        "calls": args.calls,
        "orders_list_50_rows": list_orders,
        "products_update_stock": update_stock,
        "target_median_ms": 1.0,
        "meets_target": max(list_orders["median_ms"], update_stock["median_ms"]) <= 1.0,
        "python": sys.version.split()[0],
        "machine": platform.machine(),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    raise SystemExit(main())
