"""The coalescing table: which calls travel inside a bulk call, and how answers map back."""

from __future__ import annotations

from typing import Any

import pytest

from billhive.billbee.envelope import BillbeeResponse
from billhive.billbee.limits import BULK_FORMS
from billhive.workers.calls import BATCH_JOB, CALL_JOB, STOCK_JOB, job_plan
from billhive.workers.coalesce import NO_ITEM, Member
from billhive.workers.coalescers import BILLBEE_DEFAULT_PAGE_SIZE, COALESCERS, planned
from billhive.workers.models import Call, CallStatus, Lane

READS = COALESCERS["products.stock_multiple"]
TAGS = COALESCERS["orders.add_tags"]
ORDERS = COALESCERS["orders.create"]


def _call(operation: str, consumer: str | None = None) -> Call:
    return Call(id=1, tenant_id=7, operation=operation, lane=Lane.INTERACTIVE, consumer=consumer)


def _answer(data: Any) -> BillbeeResponse:
    return BillbeeResponse(status_code=200, data=data)


@pytest.mark.parametrize(
    ("operation", "params", "body", "bulk"),
    [
        ("orders.add_tags", {"id": 5}, {"Tags": ["x"]}, "orders.add_tags_multiple"),
        ("orders.create", {}, {"OrderNumber": "A"}, "orders.create_multiple"),
        ("shipments.create", {}, {"ProviderName": "DHL"}, "shipments.create_multiple"),
        ("products.stock_multiple", {}, {"Skus": ["A"]}, "products.stock_multiple"),
    ],
)
def test_a_coalescable_call_consumes_the_budget_of_its_bulk_endpoint(
    operation: str, params: dict[str, Any], body: Any, bulk: str
) -> None:
    plan = job_plan(_call(operation), params, body)
    assert plan.func == BATCH_JOB and plan.order.exclusive
    assert f"endpoint:billbee:7:{bulk}" in {b.key for b in plan.buckets}


def test_a_stock_update_keeps_its_job_name_and_updatestockmultiples_budget() -> None:
    plan = job_plan(_call("products.update_stock"), {}, {"Sku": "A", "NewQuantity": 1})
    assert plan.func == STOCK_JOB
    assert "endpoint:billbee:7:products.update_stock_multiple" in {b.key for b in plan.buckets}


def test_a_stock_read_by_sku_is_a_read_ordered_like_any_read() -> None:
    plan = job_plan(_call("products.stock_multiple"), {}, {"Skus": ["A"]})
    assert (plan.order.write, plan.order.stored_key) == (False, "")


@pytest.mark.parametrize(
    ("operation", "params", "body"),
    [
        ("orders.create", {"shopId": 3}, {"OrderNumber": "A"}),
        ("orders.create", {}, ["not an order"]),
        ("products.stock_multiple", {"page": 2}, {"Skus": ["A"]}),
        ("products.stock_multiple", {"modifiedSince": "2026-01-01"}, {"Skus": ["A"]}),
        ("products.stock_multiple", {}, None),
        ("products.stock_multiple", {}, {"Skus": ["A"], "Other": 1}),
        ("products.stock_multiple", {}, {"Skus": [f"S{n}" for n in range(51)]}),
        ("orders.add_tags", {"id": "x-1"}, {"Tags": ["x"]}),
        ("orders.add_tags", {"id": 5}, {"Tags": []}),
        ("orders.get", {"id": 5}, None),
    ],
)
def test_a_call_the_bulk_form_cannot_carry_is_sent_alone(
    operation: str, params: dict[str, Any], body: Any
) -> None:
    assert planned(operation, params, body, None) is None
    assert job_plan(_call(operation), params, body).func == CALL_JOB


def test_a_call_whose_answer_a_consumer_takes_is_sent_alone() -> None:
    call = _call("products.stock_multiple", consumer="billhive.feeds.consume:stock")
    assert job_plan(call, {}, {"Skus": ["A"]}).func == CALL_JOB


def test_stock_reads_ask_for_the_union_of_their_skus_on_one_page() -> None:
    members = [Member(1, {}, {"Skus": ["A", "B"]}), Member(2, {}, {"Skus": ["B", "C"]})]
    request = READS.request(members)
    assert request.body == {"Skus": ["A", "B", "C"]}
    assert request.params == {"pageSize": 3}
    assert READS.size(members) == 3


def test_each_stock_read_gets_the_rows_of_its_own_skus_in_the_order_it_asked() -> None:
    members = [Member(1, {}, {"Skus": ["C", "A"]}), Member(2, {}, {"Skus": ["B", "NOPE"]})]
    rows = [{"SKU": sku, "Stocks": []} for sku in ("A", "B", "C")]
    outcomes = READS.outcomes(members, _answer(rows))
    assert [r["SKU"] for r in outcomes[1].result] == ["C", "A"]
    assert [r["SKU"] for r in outcomes[2].result] == ["B"]
    assert {o.status for o in outcomes.values()} == {CallStatus.SUCCEEDED}


def test_stock_reads_never_ask_for_more_rows_than_one_page_holds() -> None:
    assert READS.cap({"products.stock_multiple": 1000}) == 250
    assert BILLBEE_DEFAULT_PAGE_SIZE == 50


def test_tag_calls_share_a_bulk_call_only_with_the_same_tags() -> None:
    urgent = Member(1, {"id": 5}, {"Tags": ["Eilig", "B2B"]})
    same = Member(2, {"id": 6}, {"Tags": ["Eilig", "B2B"]})
    other = Member(3, {"id": 7}, {"Tags": ["B2B", "Eilig"]})
    assert TAGS.group(urgent) == TAGS.group(same) != TAGS.group(other)
    assert TAGS.request([urgent, same]).body == {"OrderIds": [5, 6], "Tags": ["Eilig", "B2B"]}


def test_each_call_reads_its_own_item_and_a_missing_item_of_an_order_batch_is_unknown() -> None:
    members = [Member(1, {}, {"OrderNumber": "A"}), Member(2, {}, {"OrderNumber": "B"})]
    refused = {"Data": None, "ErrorCode": 11, "ErrorMessage": "bad order"}
    outcomes = ORDERS.outcomes(members, _answer([refused]))
    assert (outcomes[1].status, outcomes[1].error, outcomes[1].error_code) == (
        CallStatus.FAILED,
        "bad order",
        11,
    )
    # Billbee answered createmultiple, so it may have created order B: never "failed".
    assert outcomes[2].status == CallStatus.UNKNOWN_OUTCOME
    assert outcomes[2].error is not None and outcomes[2].error.startswith(NO_ITEM)


def test_a_stock_read_answer_that_is_not_a_list_fails_every_read() -> None:
    members = [Member(1, {}, {"Skus": ["A"]}), Member(2, {}, {"Skus": ["B"]})]
    outcomes = READS.outcomes(members, _answer({"unexpected": True}))
    assert {o.status for o in outcomes.values()} == {CallStatus.FAILED}
    assert {o.error for o in outcomes.values()} == {NO_ITEM}


def test_every_operation_with_a_bulk_form_has_a_coalescer_and_travels_in_that_form() -> None:
    assert set(COALESCERS) == set(BULK_FORMS)
    assert {op: entry.bulk_operation for op, entry in COALESCERS.items()} == BULK_FORMS
