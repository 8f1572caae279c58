"""Several worker processes against the throttling sandbox: every call lands, no 429."""

from __future__ import annotations

import time
from collections.abc import Callable

import httpx
import pytest
from sqlalchemy import func, select
from support.workers import start_worker_process, stop_worker_process

from billhive.workers.calls import enqueue_call
from billhive.workers.models import Call, CallStatus
from billhive.workers.runtime import Runtime

# Slow (skipped by `make test-fast`); exclusive: one at a time under xdist (tests/conftest.py).
pytestmark = [pytest.mark.slow, pytest.mark.exclusive]

TENANTS = 4
CALLS_PER_TENANT = 8


def test_concurrent_workers_keep_every_tenant_within_billbees_limits(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenants = [signed_up(n) for n in range(1, TENANTS + 1)]
    base = f"{sandbox.url}/api/v1/_sandbox"  # type: ignore[attr-defined]
    time.sleep(1.1)  # the signup checks' budget has passed
    httpx.post(f"{base}/reset-stats").raise_for_status()
    with runtime.database.session() as session:
        for _ in range(CALLS_PER_TENANT):
            for tenant in tenants:  # every call on one endpoint: 2/s per tenant
                enqueue_call(
                    tenant,
                    "orders.list",
                    {"page": 1},
                    session=session,
                    redis=runtime.redis,
                    vault=runtime.vault,
                )
    # The allowance for send-to-arrival delay is widened from the default 35 ms: on a test
    # machine shared with other test runs a thread was scheduled late enough for one 429
    # with 35 ms and with 150 ms. What this test checks is the window arithmetic across
    # processes; the default margin's cost and 429 rate are measured by bench_workers.
    process = start_worker_process(runtime, 4, dispatch_jitter_ms="400")
    try:
        deadline = time.monotonic() + 60
        done = 0
        while done < TENANTS * CALLS_PER_TENANT and time.monotonic() < deadline:
            with runtime.database.session() as session:
                done = (
                    session.scalar(
                        select(func.count())
                        .select_from(Call)
                        .where(Call.status == CallStatus.SUCCEEDED)
                    )
                    or 0
                )
            time.sleep(0.2)
    finally:
        stop_worker_process(process)
    stats = httpx.get(f"{base}/stats").json()
    assert done == TENANTS * CALLS_PER_TENANT
    assert stats["total"] == {"accepted": TENANTS * CALLS_PER_TENANT, "throttled": 0}
