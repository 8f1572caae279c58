"""Coalesced calls end to end: tags, shipments, orders and stock reads queued together go out
as one bulk call to the sandbox, each keeping its own outcome, in the tenant's order."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from flask import Response, request
from rq.job import Job
from sqlalchemy import select, update
from support.runtime import Account, sandbox_runtime, serve_sandbox, sign_up_account
from support.sealed import payload_of
from support.workers import API_KEY, PASSWORD, account_username, work

from billhive.billbee.client import BillbeeClient, DeprecatedOperationWarning
from billhive.billbee.errors import ApiError, InvalidRequest, NotFound
from billhive.billbee.errors import ErrorCode as BillbeeCode
from billhive.billbee.operations import get_operation
from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.delivery.payloads import calls_json
from billhive.sandbox.envelope import ErrorCode, failure
from billhive.workers.batches import may_have_run_partly, refused_as_a_whole, run_batch
from billhive.workers.calls import CALL_JOB, CallRequest, enqueue_calls
from billhive.workers.jobs import Attempt, CallDeferred
from billhive.workers.models import Call, CallStatus, UsageDay
from billhive.workers.outcomes import Decision, Verdict
from billhive.workers.runtime import Runtime
from billhive.workers.scheduling.dispatcher import Dispatched

SKUS = [f"BH-001-{n:03d}" for n in range(1, 9)]  # the sandbox seeds these for account 1
SHIPMENT = {"ProviderName": "DHL", "ReceiverAddress": {"City": "Bonn"}}


def _client(sandbox: Any) -> BillbeeClient:
    base = f"{sandbox.url}/api/v1"
    httpx.patch(f"{base}/_sandbox/settings", json={"throttle": False}).raise_for_status()
    return BillbeeClient(API_KEY, account_username(1), PASSWORD, base_url=base)


def _order_ids(sandbox: Any, n: int) -> list[int]:
    with _client(sandbox) as client:
        orders = client.call("orders.list", {"page": 1, "pageSize": n}).data
    return [int(order["BillBeeOrderId"]) for order in orders]


def _enqueue(runtime: Runtime, tenant: int, requests: list[CallRequest]) -> list[int]:
    with runtime.database.session() as session:
        calls = enqueue_calls(
            tenant, requests, session=session, redis=runtime.redis, vault=runtime.vault
        )
        return [c.id for c in calls]


def _calls(runtime: Runtime, ids: list[int]) -> list[Call]:
    with runtime.database.session() as session:
        found = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(ids)))}
    return [found[i] for i in ids]


def _results(runtime: Runtime, ids: list[int]) -> list[Any]:
    with runtime.database.session() as session:
        calls = session.scalars(select(Call).where(Call.id.in_(ids)).order_by(Call.id)).all()
        return [payload_of(session, runtime.vault, c).result for c in calls]


def _billbee_calls(runtime: Runtime, tenant: int) -> int:
    with runtime.database.session() as session:
        usage = session.scalars(select(UsageDay).where(UsageDay.tenant_id == tenant)).first()
    return 0 if usage is None else usage.calls - usage.throttled


def _tags(order_id: int) -> CallRequest:
    return CallRequest("orders.add_tags", {"id": order_id}, {"Tags": ["Eilig"]})


def test_tag_calls_with_the_same_tags_go_out_as_one_call_and_an_unknown_order_fails_alone(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant = signed_up(1)
    first, second = _order_ids(sandbox, 2)
    ids = _enqueue(runtime, tenant, [_tags(first), _tags(99_999_999), _tags(second)])
    work(runtime)
    good, unknown, other = _calls(runtime, ids)
    assert _billbee_calls(runtime, tenant) == 1
    assert good.status is other.status is CallStatus.SUCCEEDED
    assert unknown.status is CallStatus.FAILED and unknown.error_name == "OrderNotFound"
    assert good.batch_job_id == unknown.batch_job_id == other.batch_job_id == good.job_id
    with _client(sandbox) as client:
        assert "Eilig" in client.call("orders.get", {"id": second}).data["Tags"]


def test_tag_calls_with_other_tags_go_out_in_a_call_of_their_own(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant = signed_up(1)
    first, second, third = _order_ids(sandbox, 3)
    other = CallRequest("orders.add_tags", {"id": second}, {"Tags": ["B2B"]})
    ids = _enqueue(runtime, tenant, [_tags(first), other, _tags(third)])
    work(runtime)
    a, b, c = _calls(runtime, ids)
    assert {a.status, b.status, c.status} == {CallStatus.SUCCEEDED}
    assert len({a.batch_job_id, b.batch_job_id, c.batch_job_id}) == 3  # none overtakes
    assert _billbee_calls(runtime, tenant) == 3


def test_shipments_queued_together_go_out_as_one_call_and_each_gets_its_own_label(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    refused = {"ProviderName": "Brieftaube", "ReceiverAddress": {"City": "Ulm"}}
    requests = [CallRequest("shipments.create", body=b) for b in (SHIPMENT, refused, SHIPMENT)]
    ids = _enqueue(runtime, tenant, requests)
    work(runtime)
    first, bad, last = _calls(runtime, ids)
    assert _billbee_calls(runtime, tenant) == 1
    assert first.status is last.status is CallStatus.SUCCEEDED
    assert bad.status is CallStatus.FAILED and "ProviderName" in (bad.error or "")
    labels = _results(runtime, [first.id, last.id])
    assert labels[0]["ShippingId"] != labels[1]["ShippingId"]


def test_orders_created_together_go_out_as_one_createmultiple_and_each_gets_its_order(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant = signed_up(1)
    numbers = ["BATCH-1", "BATCH-2", "BATCH-3"]
    ids = _enqueue(
        runtime, tenant, [CallRequest("orders.create", body={"OrderNumber": n}) for n in numbers]
    )
    work(runtime)
    assert _billbee_calls(runtime, tenant) == 1
    orders = _results(runtime, ids)
    assert [o["OrderNumber"] for o in orders] == numbers
    with _client(sandbox) as client:
        stored = client.call("orders.get", {"id": orders[1]["BillBeeOrderId"]}).data
    assert stored["OrderNumber"] == "BATCH-2"


def test_a_coalescable_call_alone_goes_out_as_its_bulk_operation(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    ids = _enqueue(runtime, tenant, [CallRequest("orders.create", body={"OrderNumber": "One"})])
    work(runtime)
    (call,) = _calls(runtime, ids)
    assert call.status is CallStatus.SUCCEEDED and call.batch_job_id == call.job_id
    assert call.http_status == 200  # createmultiple's answer; POST /orders answers 201
    assert _results(runtime, ids)[0]["OrderNumber"] == "One"


def test_an_order_with_a_shop_id_goes_alone_and_ends_the_run_of_orders_before_it(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    requests = [
        CallRequest("orders.create", body={"OrderNumber": "S-1"}),
        CallRequest("orders.create", {"shopId": 1}, {"OrderNumber": "S-2"}),
        CallRequest("orders.create", body={"OrderNumber": "S-3"}),
    ]
    ids = _enqueue(runtime, tenant, requests)
    with pytest.warns(DeprecatedOperationWarning, match="shopId"):  # sent as orders.create
        work(runtime)
    first, alone, last = _calls(runtime, ids)
    assert {first.status, alone.status, last.status} == {CallStatus.SUCCEEDED}
    assert alone.batch_job_id is None
    assert first.finished_at <= alone.started_at  # type: ignore[operator]
    assert alone.finished_at <= last.started_at  # type: ignore[operator]
    assert _billbee_calls(runtime, tenant) == 3


def test_stock_reads_of_a_few_skus_become_one_read_and_each_gets_its_own_rows(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    asked = [[SKUS[2], SKUS[0]], [SKUS[1], "NO-SUCH-SKU"], [SKUS[0]]]
    ids = _enqueue(
        runtime,
        tenant,
        [CallRequest("products.stock_multiple", body={"Skus": skus}) for skus in asked],
    )
    work(runtime)
    assert _billbee_calls(runtime, tenant) == 1
    rows = _results(runtime, ids)
    assert [[row["SKU"] for row in r] for r in rows] == [[SKUS[2], SKUS[0]], [SKUS[1]], [SKUS[0]]]


def test_a_paged_stock_read_is_sent_alone(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    requests = [
        CallRequest("products.stock_multiple", body={"Skus": [SKUS[0]]}),
        CallRequest("products.stock_multiple", {"pageSize": 5}, {"Skus": [SKUS[1]]}),
    ]
    ids = _enqueue(runtime, tenant, requests)
    work(runtime)
    by_sku, paged = _calls(runtime, ids)
    assert by_sku.status is paged.status is CallStatus.SUCCEEDED
    assert paged.batch_job_id is None
    assert _billbee_calls(runtime, tenant) == 2


def test_a_call_does_not_join_a_batch_over_an_earlier_write_of_the_whole_tenant(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant = signed_up(1)
    (order,) = _order_ids(sandbox, 1)
    between = CallRequest("customers.create", body={"Name": "B", "Email": "b@example.com"})
    ids = _enqueue(runtime, tenant, [_tags(order), between, _tags(order)])
    work(runtime)
    a, b, c = _calls(runtime, ids)
    assert a.batch_job_id != c.batch_job_id
    assert a.finished_at <= b.started_at <= b.finished_at <= c.started_at  # type: ignore[operator]


def test_the_api_view_names_the_batch_a_call_went_out_in(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    ids = _enqueue(runtime, tenant, [CallRequest("shipments.create", body=SHIPMENT)] * 2)
    work(runtime)
    with runtime.database.session() as session:
        shown = calls_json(session, runtime.vault, _calls(runtime, ids))
    assert [c["batch_job_id"] for c in shown] == [f"call-{ids[0]}"] * 2


def _faults(sandbox: Any, **spec: float) -> None:
    base = f"{sandbox.url}/api/v1/_sandbox"
    httpx.put(f"{base}/accounts/1/faults", json=spec).raise_for_status()


def test_an_order_batch_without_an_answer_makes_every_order_unknown_and_sends_none_again(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant = signed_up(1)
    _faults(sandbox, reset_rate=1.0)
    ids = _enqueue(
        runtime,
        tenant,
        [CallRequest("orders.create", body={"OrderNumber": f"U-{n}"}) for n in (1, 2, 3)],
    )
    work(runtime)
    _faults(sandbox)
    calls = _calls(runtime, ids)
    assert {c.status for c in calls} == {CallStatus.UNKNOWN_OUTCOME}
    assert _billbee_calls(runtime, tenant) == 1
    assert not runtime.redis.exists(*[f"rq:job:{c.job_id}" for c in calls[1:]])


def test_a_batch_that_must_wait_puts_the_joined_calls_back_in_waiting(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: Any
) -> None:
    tenant = signed_up(1)
    _faults(sandbox, unavailable_rate=1.0)
    ids = _enqueue(
        runtime,
        tenant,
        [CallRequest("products.stock_multiple", body={"Skus": [sku]}) for sku in SKUS[:3]],
    )
    started = runtime.dispatcher.pop()
    assert isinstance(started, Dispatched) and started.job_id == f"call-{ids[0]}"
    with pytest.raises(CallDeferred):
        run_batch(runtime, ids[0])
    head, *joined = _calls(runtime, ids)
    assert head.status is CallStatus.QUEUED
    assert {(c.status, c.batch_job_id) for c in joined} == {(CallStatus.QUEUED, None)}
    assert {c.attempts for c in joined} == {0}  # the attempt was the head's
    queued = runtime.redis.lrange(f"rq:queue:billhive:t:{tenant}", 0, -1)
    assert [j.decode() for j in queued] == [c.job_id for c in joined]


def _left_running_by_a_killed_worker(runtime: Runtime, ids: list[int]) -> None:
    """The batch as a worker killed mid-call leaves it: every call running in the head's
    batch, its attempt long past its lease, every job still queued."""
    with runtime.database.session() as session:
        session.execute(
            update(Call)
            .where(Call.id.in_(ids))
            .values(
                status=CallStatus.RUNNING,
                attempts=1,
                batch_job_id=f"call-{ids[0]}",
                attempt_started_at=utcnow() - timedelta(seconds=600),
            )
        )
        session.commit()


def test_a_killed_order_batch_becomes_unknown_outcome_call_by_call_and_is_never_resent(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    ids = _enqueue(
        runtime,
        tenant,
        [CallRequest("orders.create", body={"OrderNumber": f"K-{n}"}) for n in (1, 2, 3)],
    )
    _left_running_by_a_killed_worker(runtime, ids)
    work(runtime)
    assert {c.status for c in _calls(runtime, ids)} == {CallStatus.UNKNOWN_OUTCOME}
    assert _billbee_calls(runtime, tenant) == 0


def test_a_killed_batch_of_stock_reads_is_sent_again_with_every_call_of_it(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    ids = _enqueue(
        runtime,
        tenant,
        [CallRequest("products.stock_multiple", body={"Skus": [sku]}) for sku in SKUS[:3]],
    )
    _left_running_by_a_killed_worker(runtime, ids)
    work(runtime)
    calls = _calls(runtime, ids)
    assert {c.status for c in calls} == {CallStatus.SUCCEEDED}
    assert _billbee_calls(runtime, tenant) == 1
    assert {c.batch_job_id for c in calls} == {f"call-{ids[0]}"}


def test_an_enqueued_call_with_a_shop_id_gets_the_plain_call_job(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    (call_id,) = _enqueue(
        runtime, tenant, [CallRequest("orders.create", {"shopId": 1}, {"OrderNumber": "J"})]
    )
    assert Job.fetch(f"call-{call_id}", connection=runtime.redis).func_name == CALL_JOB


# -- a bulk call Billbee refuses as a whole ------------------------------------------------

#: Billbee's real cap lower than billhive's setting: a batch of three is refused as a whole.
SANDBOX_CAPS = {"shipments.create_multiple": 2, "orders.create_multiple": 2}


@pytest.fixture
def capped(
    settings_factory: Callable[..., Settings],
    live_server_factory: Callable[[Any], Any],
    db: Database,
) -> Iterator[tuple[Runtime, int]]:
    """A runtime on a sandbox that takes at most two items per bulk call, and a tenant
    (``db``: the tables emptied after the test)."""
    account = Account(1, account_username(1), PASSWORD, "Shop 1")
    sandbox = serve_sandbox(live_server_factory, API_KEY, [account], bulk_caps=SANDBOX_CAPS)
    for rt in sandbox_runtime(settings_factory, sandbox, API_KEY):
        yield rt, sign_up_account(rt, account, display_name="Shop 1", email="o@example.com")


def test_calls_whose_bulk_call_was_refused_as_a_whole_each_go_out_alone_and_succeed(
    capped: tuple[Runtime, int],
) -> None:
    runtime, tenant = capped
    requests = [CallRequest("orders.create", body={"OrderNumber": f"SOLO-{n}"}) for n in range(3)]
    ids = _enqueue(runtime, tenant, requests)
    work(runtime)
    calls = _calls(runtime, ids)
    assert [c.status for c in calls] == [CallStatus.SUCCEEDED] * 3
    assert all(c.solo for c in calls)
    assert [c.attempts for c in calls] == [1, 1, 1]  # the refused bulk call cost none
    assert _billbee_calls(runtime, tenant) == 1 + 3  # the refused one, then each alone
    assert len({c.batch_job_id for c in calls}) == 3


def test_a_call_refused_on_its_own_fails_alone_once_its_batch_was_refused_as_a_whole(
    capped: tuple[Runtime, int],
) -> None:
    runtime, tenant = capped
    refused = {"ProviderName": "Brieftaube", "ReceiverAddress": {"City": "Ulm"}}
    requests = [CallRequest("shipments.create", body=b) for b in (SHIPMENT, refused, SHIPMENT)]
    ids = _enqueue(runtime, tenant, requests)
    work(runtime)
    first, bad, last = _calls(runtime, ids)
    assert first.status is last.status is CallStatus.SUCCEEDED
    assert bad.status is CallStatus.FAILED and "ProviderName" in (bad.error or "")


def test_calls_within_billbees_cap_still_go_out_together(capped: tuple[Runtime, int]) -> None:
    runtime, tenant = capped
    requests = [CallRequest("orders.create", body={"OrderNumber": f"PAIR-{n}"}) for n in range(2)]
    ids = _enqueue(runtime, tenant, requests)
    work(runtime)
    calls = _calls(runtime, ids)
    assert [c.status for c in calls] == [CallStatus.SUCCEEDED] * 2
    assert not any(c.solo for c in calls)
    assert _billbee_calls(runtime, tenant) == 1


def _after_creating_refuse_the_whole_call(response: Response) -> Response:
    """Billbee as it may answer a createmultiple that fails half-way: the orders before the
    failure are created, the answer is one error envelope for the whole call."""
    if request.method == "POST" and request.path.endswith("/orders/createmultiple"):
        return failure(200, ErrorCode.INTERNAL_ERROR, "An error has occurred.")
    return response


@pytest.fixture
def partly_run(
    settings_factory: Callable[..., Settings],
    live_server_factory: Callable[[Any], Any],
    db: Database,
) -> Iterator[tuple[Runtime, int, Any]]:
    """A runtime on a sandbox that carries out a createmultiple and answers it with an
    error envelope, a tenant, and the sandbox."""
    account = Account(1, account_username(1), PASSWORD, "Shop 1")
    sandbox = serve_sandbox(
        live_server_factory,
        API_KEY,
        [account],
        after_request=_after_creating_refuse_the_whole_call,
    )
    for rt in sandbox_runtime(settings_factory, sandbox, API_KEY):
        tenant = sign_up_account(rt, account, display_name="Shop 1", email="o@example.com")
        yield rt, tenant, sandbox


def test_an_order_batch_refused_after_it_may_have_run_is_unknown_and_never_sent_again(
    partly_run: tuple[Runtime, int, Any],
) -> None:
    runtime, tenant, sandbox = partly_run
    requests = [CallRequest("orders.create", body={"OrderNumber": f"HALF-{n}"}) for n in range(3)]
    ids = _enqueue(runtime, tenant, requests)
    work(runtime)
    calls = _calls(runtime, ids)
    assert {c.status for c in calls} == {CallStatus.UNKNOWN_OUTCOME}
    assert not any(c.solo for c in calls)
    assert _billbee_calls(runtime, tenant) == 1
    with _client(sandbox) as client:
        orders = client.call("orders.list", {"page": 1, "pageSize": 250}).data
    numbers = [o["OrderNumber"] for o in orders if str(o["OrderNumber"]).startswith("HALF-")]
    assert sorted(numbers) == ["HALF-0", "HALF-1", "HALF-2"]  # each created once


def _refused(error: BaseException) -> Attempt:
    return Attempt(response=None, error=error, reached_billbee=True)


def test_a_400_refuses_a_non_idempotent_bulk_call_as_a_whole() -> None:
    attempt = _refused(InvalidRequest("too many items", status_code=400))
    operation = get_operation("orders.create_multiple")
    assert refused_as_a_whole(attempt, Decision(Verdict.FAILED), operation)
    assert not may_have_run_partly(attempt, Decision(Verdict.FAILED), operation)


@pytest.mark.parametrize(
    "error",
    [
        ApiError("failed", error_code=BillbeeCode.InternalError),
        NotFound("no such order", status_code=404),
        InvalidRequest("conflict", status_code=409),
    ],
    ids=["error envelope", "404", "409"],
)
def test_a_refusal_that_may_follow_running_items_sends_no_order_or_shipment_again(
    error: BaseException,
) -> None:
    attempt, operation = _refused(error), get_operation("shipments.create_multiple")
    assert not refused_as_a_whole(attempt, Decision(Verdict.FAILED), operation)
    assert may_have_run_partly(attempt, Decision(Verdict.FAILED), operation)


def test_an_error_envelope_refuses_an_idempotent_bulk_call_as_a_whole() -> None:
    attempt = _refused(ApiError("failed", error_code=BillbeeCode.InternalError))
    operation = get_operation("products.stock_multiple")
    assert refused_as_a_whole(attempt, Decision(Verdict.FAILED), operation)
    assert not may_have_run_partly(attempt, Decision(Verdict.FAILED), operation)
