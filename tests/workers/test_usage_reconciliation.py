"""The daily usage reconciliation against the sandbox's GET /apiusage."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from support.workers import API_KEY, account_username, work

from billhive.db import utcnow
from billhive.sandbox.stats import key_label
from billhive.workers import usage_reconcile
from billhive.workers.calls import enqueue_call
from billhive.workers.control import queue_depth
from billhive.workers.runtime import Runtime
from billhive.workers.usage_models import UsageReconciliation


def _row(runtime: Runtime, tenant_id: int) -> UsageReconciliation:
    with runtime.database.session() as session:
        row = usage_reconcile.latest(session, tenant_id)
        assert row is not None
        return row


def _calls(runtime: Runtime, tenant_id: int, count: int) -> None:
    with runtime.database.session() as session:
        for page in range(1, count + 1):
            enqueue_call(
                tenant_id,
                "orders.list",
                {"page": page},
                session=session,
                redis=runtime.redis,
                vault=runtime.vault,
            )
    work(runtime)


def test_the_reconciliation_runs_on_the_tenants_own_queue(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant_id = signed_up(1)
    assert usage_reconcile.queue_due(runtime) == 1
    assert queue_depth(runtime.redis, tenant_id) == 1
    assert usage_reconcile.queue_due(runtime) == 0  # already waiting: not queued twice


def test_billbees_count_and_billhives_are_stored_side_by_side(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant_id = signed_up(1)
    _calls(runtime, tenant_id, 3)
    usage_reconcile.queue_due(runtime)
    work(runtime)
    row = _row(runtime, tenant_id)
    # billhive made 3 calls and the reading (and any 429 on the way, which both count);
    # Billbee also counted the signup's verification, which billhive makes outside a job
    assert row.billhive_calls >= 4
    assert row.billbee_calls == row.billhive_calls + 1
    assert row.error is None and row.month == utcnow().date().replace(day=1)
    assert not usage_reconcile.is_flagged(row.billbee_calls, row.billhive_calls, 5.0)


def test_a_tenant_checked_within_the_period_is_not_queued_again(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    signed_up(1)
    usage_reconcile.queue_due(runtime)
    work(runtime)
    assert usage_reconcile.queue_due(runtime) == 0


def test_calls_billbee_counted_that_billhive_never_made_are_flagged(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant_id = signed_up(2)
    usage = sandbox.server.app.extensions["billhive_sandbox"].usage
    usage.record(  # the account used billhive's key elsewhere: Billbee bills it all the same
        key_label(API_KEY),
        account_id=2,
        username=account_username(2),
        when=utcnow(),
        method="GET",
        endpoint="/orders",
        count=300,
    )
    usage_reconcile.queue_due(runtime)
    work(runtime)
    row = _row(runtime, tenant_id)
    assert row.billbee_calls is not None and row.billbee_calls - row.billhive_calls == 301
    assert usage_reconcile.is_flagged(row.billbee_calls, row.billhive_calls, 5.0)
    with runtime.database.session() as session:
        count, rows = usage_reconcile.flagged(session, row.month, 5.0)
    assert count == 1 and rows[0].tenant_id == tenant_id


def test_billbee_unreachable_keeps_the_error_and_no_count(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    import httpx

    tenant_id = signed_up(3)
    httpx.put(f"{sandbox.url}/api/v1/_sandbox/accounts/3/faults", json={"unavailable_rate": 1.0})
    result = usage_reconcile.reconcile(runtime, tenant_id)
    assert result.billbee_calls is None and result.error is not None
    assert "503" in result.error
    row = _row(runtime, tenant_id)
    assert row.billbee_calls is None and row.error == result.error


def test_the_count_is_read_from_a_bare_or_an_enveloped_answer() -> None:
    summaries = {"Summaries": [{"UserName": "a", "Data": {"Count": 4}}, {"Data": {"Count": 3}}]}
    assert usage_reconcile.billbee_count(summaries) == 7
    assert usage_reconcile.billbee_count({"ErrorCode": 0, "Data": summaries}) == 7
    assert usage_reconcile.billbee_count({"Other": 1}) is None


def test_small_differences_are_never_flagged() -> None:
    assert not usage_reconcile.is_flagged(10, 40, 5.0)  # 30 calls: under the 50-call floor
    assert not usage_reconcile.is_flagged(102_000, 100_000, 5.0)  # 2 %
    assert usage_reconcile.is_flagged(106_000, 100_000, 5.0)
