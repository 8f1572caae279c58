"""The throttle table: which buckets one Billbee call consumes."""

from __future__ import annotations

from datetime import datetime

import pytest

from billhive.billbee import limits
from billhive.billbee.limits import Bucket, buckets_for
from billhive.billbee.operations import UnknownOperation, get_operation


def _by_name(buckets: list[Bucket]) -> dict[str, Bucket]:
    return {b.name: b for b in buckets}


def test_a_plain_call_consumes_key_user_and_endpoint_buckets_most_global_first() -> None:
    buckets = buckets_for("customers.list", {}, key_id="k1", user_id="t7")
    assert buckets == [
        Bucket("key", "key:k1", 50, 1.0),
        Bucket("user", "user:k1:t7", 10, 1.0),
        Bucket("endpoint", "endpoint:k1:t7:customers.list", 2, 1.0),
    ]


def test_an_operation_object_gives_the_same_buckets_as_its_name() -> None:
    op = get_operation("orders.list")
    assert buckets_for(op, {}, key_id="k", user_id="u") == buckets_for(
        "orders.list", {}, key_id="k", user_id="u"
    )


def test_two_merchants_share_the_key_bucket_but_not_their_user_buckets() -> None:
    a = _by_name(buckets_for("orders.list", {}, key_id="k", user_id="a"))
    b = _by_name(buckets_for("orders.list", {}, key_id="k", user_id="b"))
    assert a["key"] == b["key"]
    assert a["user"].key != b["user"].key
    assert a["endpoint"].key != b["endpoint"].key


def test_two_endpoints_of_one_merchant_share_the_user_bucket_only() -> None:
    a = _by_name(buckets_for("orders.list", {}, key_id="k", user_id="u"))
    b = _by_name(buckets_for("products.list", {}, key_id="k", user_id="u"))
    assert a["user"] == b["user"]
    assert a["endpoint"].key != b["endpoint"].key


def test_getting_one_order_counts_six_per_minute_for_that_order() -> None:
    buckets = buckets_for("orders.get", {"id": 42}, key_id="k", user_id="u")
    assert buckets[-1] == Bucket("order_get", "order_get:k:u:42", 6, 60.0)
    other = buckets_for("orders.get", {"id": 43}, key_id="k", user_id="u")
    assert other[-1].key != buckets[-1].key


@pytest.mark.parametrize("name", ["orders.create_invoice", "orders.create_delivery_note"])
def test_invoice_and_delivery_note_count_once_per_order_and_key_per_five_minutes(
    name: str,
) -> None:
    first = buckets_for(name, {"id": 9}, key_id="k", user_id="a")[-1]
    same_order_other_user = buckets_for(name, {"id": 9}, key_id="k", user_id="b")[-1]
    assert (first.limit, first.period) == (1, 300.0)
    assert first == same_order_other_user


def test_invoice_and_delivery_note_buckets_are_separate() -> None:
    invoice = buckets_for("orders.create_invoice", {"id": 9}, key_id="k", user_id="u")[-1]
    note = buckets_for("orders.create_delivery_note", {"id": 9}, key_id="k", user_id="u")[-1]
    assert invoice.key != note.key


def test_events_count_twice_per_page_per_hour_defaulting_to_page_one() -> None:
    default = buckets_for("events.list", {}, key_id="k", user_id="u")[-1]
    page_one = buckets_for("events.list", {"page": 1}, key_id="k", user_id="u")[-1]
    page_two = buckets_for("events.list", {"page": 2}, key_id="k", user_id="u")[-1]
    assert default == page_one == Bucket("events_page", "events_page:k:u:1", 2, 3600.0)
    assert page_two.key != page_one.key


def test_invoice_list_counts_once_a_minute_per_page_and_min_invoice_date() -> None:
    params = {"page": 3, "minInvoiceDate": "2024-01-01T00:00:00"}
    bucket = buckets_for("orders.list_invoices", params, key_id="k", user_id="u")[-1]
    assert bucket == Bucket("invoices_page", "invoices_page:k:u:3:2024-01-01T00:00:00", 1, 60.0)
    later = {"page": 3, "minInvoiceDate": "2024-02-01T00:00:00"}
    assert buckets_for("orders.list_invoices", later, key_id="k", user_id="u")[-1] != bucket


def test_invoice_list_accepts_python_names_and_datetimes() -> None:
    spec = buckets_for(
        "orders.list_invoices",
        {"minInvoiceDate": "2024-01-01T00:00:00"},
        key_id="k",
        user_id="u",
    )
    python = buckets_for(
        "orders.list_invoices",
        {"min_invoice_date": datetime(2024, 1, 1)},
        key_id="k",
        user_id="u",
    )
    assert spec == python


def test_bucket_keys_hold_only_the_ids_given() -> None:
    keys = [b.key for b in buckets_for("orders.get", {"id": 1}, key_id="K", user_id="U")]
    assert all(
        set(key.split(":")) <= {"key", "user", "endpoint", "order_get", "orders.get", "K", "U", "1"}
        for key in keys
    )


def test_unknown_operation_is_refused() -> None:
    with pytest.raises(UnknownOperation):
        buckets_for("orders.nope", {}, key_id="k", user_id="u")


def test_the_published_constants_are_exported() -> None:
    assert (limits.KEY_LIMIT, limits.USER_LIMIT, limits.ENDPOINT_LIMIT) == (50, 10, 2)
    assert limits.DEFAULT_RETRY_AFTER_SECONDS == 1.0
    assert limits.UPDATE_STOCK_MULTIPLE_MAX_ITEMS == 100
    assert limits.longest_period() == 3600.0
