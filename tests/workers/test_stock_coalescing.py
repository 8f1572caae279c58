"""Stock coalescing: many absolute values, few updatestockmultiple calls, one outcome each."""

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import select
from support.sealed import payload_of
from support.workers import API_KEY, PASSWORD, account_username, work

from billhive.workers.calls import StockItem, enqueue_call, enqueue_stock_updates
from billhive.workers.models import Call, CallStatus, UsageDay
from billhive.workers.runtime import Runtime
from billhive.workers.stock import merge

SKUS = [f"BH-001-{n:03d}" for n in range(1, 9)]  # the sandbox seeds these for account 1


def _stock_of(runtime: Runtime, sku: str) -> float:
    # Reading back is the test's business, not the merchant's budget: no throttle for it.
    base = runtime.settings.billbee_base_url
    httpx.patch(f"{base}/_sandbox/settings", json={"throttle": False}).raise_for_status()
    response = httpx.get(
        f"{runtime.settings.billbee_base_url}/products/{sku}",
        params={"lookupBy": "sku"},
        auth=(account_username(1), PASSWORD),
        headers={"X-Billbee-Api-Key": API_KEY},
    )
    return float(response.json()["Data"]["StockCurrent"])


def _calls(runtime: Runtime, ids: list[int]) -> list[Call]:
    with runtime.database.session() as session:
        found = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(ids)))}
    return [found[i] for i in ids]


def test_a_burst_of_stock_values_goes_out_in_few_calls_and_the_latest_value_wins(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    items = [StockItem(sku=SKUS[n % len(SKUS)], quantity=float(n)) for n in range(250)]
    with runtime.database.session() as session:
        ids = [
            c.id
            for c in enqueue_stock_updates(
                tenant, items, session=session, redis=runtime.redis, vault=runtime.vault
            )
        ]
    work(runtime)
    calls = _calls(runtime, ids)
    assert {c.status for c in calls} == {CallStatus.SUCCEEDED}
    with runtime.database.session() as session:
        usage = session.scalars(select(UsageDay).where(UsageDay.tenant_id == tenant)).one()
    assert usage.calls - usage.throttled == 3  # 250 updates, batches of at most 100
    for n, sku in enumerate(SKUS):
        latest = max(i for i in range(250) if i % len(SKUS) == n)
        assert _stock_of(runtime, sku) == float(latest)


def _result(runtime: Runtime, call: Call) -> Any:
    with runtime.database.session() as session:
        return payload_of(session, runtime.vault, call).result


def test_each_update_keeps_its_own_outcome(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    items = [StockItem(sku=SKUS[0], quantity=3), StockItem(sku="NO-SUCH-SKU", quantity=1)]
    with runtime.database.session() as session:
        ids = [
            c.id
            for c in enqueue_stock_updates(
                tenant, items, session=session, redis=runtime.redis, vault=runtime.vault
            )
        ]
    work(runtime)
    good, bad = _calls(runtime, ids)
    assert good.status is CallStatus.SUCCEEDED and _result(runtime, good)["CurrentStock"] == 3
    assert bad.status is CallStatus.FAILED and bad.error
    assert good.batch_job_id == bad.batch_job_id is not None


def test_stock_updates_never_overtake_an_earlier_write_of_another_kind(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        first = enqueue_stock_updates(
            tenant,
            [StockItem(sku=SKUS[1], quantity=1)],
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )[0].id
        middle = enqueue_call(
            tenant,
            "customers.create",
            body={"Name": "Between", "Email": "between@example.com"},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        ).id
        last = enqueue_stock_updates(
            tenant,
            [StockItem(sku=SKUS[1], quantity=2)],
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )[0].id
    work(runtime)
    a, b, c = _calls(runtime, [first, middle, last])
    assert a.batch_job_id != c.batch_job_id  # the whole-tenant write sits between them
    assert a.finished_at <= b.started_at  # type: ignore[operator]
    assert b.finished_at <= c.started_at  # type: ignore[operator]
    assert _stock_of(runtime, SKUS[1]) == 2


def test_a_read_queued_after_a_stock_update_starts_after_it_finished(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        stock = enqueue_stock_updates(
            tenant,
            [StockItem(sku=SKUS[1], quantity=7)],
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )[0].id
        read = enqueue_call(
            tenant,
            "orders.list",
            {"page": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        ).id
    work(runtime)
    written, after = _calls(runtime, [stock, read])
    assert written.finished_at <= after.started_at  # type: ignore[operator]


class _Call:
    def __init__(
        self, call_id: int, sku: str, quantity: float, stock_id: int | None = None
    ) -> None:
        self.id, self.body = call_id, {"Sku": sku, "NewQuantity": quantity}
        if stock_id is not None:
            self.body["StockId"] = stock_id


def test_merge_sends_one_entry_per_sku_with_the_latest_value() -> None:
    calls = [_Call(1, "A", 1), _Call(2, "B", 5), _Call(3, "A", 2)]
    bodies, superseded = merge(calls)  # type: ignore[arg-type]
    assert bodies == [{"Sku": "B", "NewQuantity": 5}, {"Sku": "A", "NewQuantity": 2}]
    assert superseded == {1: 3}


def test_merge_sends_each_stock_of_one_sku_with_its_own_latest_value() -> None:
    calls = [_Call(1, "A", 1, stock_id=10), _Call(2, "A", 7, stock_id=20), _Call(3, "A", 2, 10)]
    bodies, superseded = merge(calls)  # type: ignore[arg-type]
    assert bodies == [
        {"Sku": "A", "NewQuantity": 7, "StockId": 20},
        {"Sku": "A", "NewQuantity": 2, "StockId": 10},
    ]
    assert superseded == {1: 3}
