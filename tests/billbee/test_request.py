"""Checking parameters and building path and query before anything is sent."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from billhive.billbee.errors import InvalidCall
from billhive.billbee.operations import get_operation
from billhive.billbee.request import normalize_params, prepare, python_name


@pytest.mark.parametrize(
    ("spec", "python"),
    [
        ("pageSize", "page_size"),
        ("minimumBillBeeOrderId", "minimum_bill_bee_order_id"),
        ("extRef", "ext_ref"),
        ("id", "id"),
    ],
)
def test_spec_names_have_snake_case_python_names(spec: str, python: str) -> None:
    assert python_name(spec) == python


def test_python_names_map_to_spec_names() -> None:
    params = normalize_params(get_operation("orders.list"), {"page_size": 5, "modifiedAtMin": "x"})
    assert params == {"pageSize": 5, "modifiedAtMin": "x"}


def test_none_values_are_left_out() -> None:
    assert normalize_params(get_operation("orders.list"), {"page": None}) == {}


def test_an_unknown_parameter_names_itself_and_the_accepted_ones() -> None:
    with pytest.raises(InvalidCall, match=r"'colour'.*pageSize"):
        normalize_params(get_operation("orders.list"), {"colour": "red"})


def test_a_missing_path_parameter_is_named() -> None:
    with pytest.raises(InvalidCall, match=r"orders\.get needs the path parameter 'id'"):
        prepare(get_operation("orders.get"), {})


def test_a_missing_required_query_parameter_is_named() -> None:
    with pytest.raises(InvalidCall, match="'id'"):
        prepare(get_operation("products.reserved_amount"), {"lookup_by": "sku"})


def test_a_list_for_a_single_value_parameter_is_refused() -> None:
    with pytest.raises(InvalidCall, match="'page'"):
        prepare(get_operation("orders.list"), {"page": [1, 2]})


def test_a_scalar_for_an_array_parameter_is_sent_as_item_zero() -> None:
    assert prepare(get_operation("orders.list"), {"tag": "vip"}).query == (("tag[0]", "vip"),)


def test_dates_and_booleans_are_rendered_as_billbee_reads_them() -> None:
    when = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    prepared = prepare(
        get_operation("orders.list_invoices"),
        {"min_invoice_date": when, "include_positions": False},
    )
    assert prepared.query == (
        ("minInvoiceDate", "2024-05-01T12:00:00+00:00"),
        ("includePositions", "false"),
    )


def test_two_path_parameters_are_both_filled_in() -> None:
    prepared = prepare(
        get_operation("products.get_product_image"), {"product_id": 4, "image_id": 9}
    )
    assert (prepared.method, prepared.path) == ("GET", "/products/4/images/9")


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"page": "two"}, "'page' must be integer"),
        ({"page": True}, "'page' must be integer"),
        ({"exclude_tags": "maybe"}, "'excludeTags' must be boolean"),
        ({"shop_id": [1, "x"]}, "'shopId' must be a list of integer"),
        ({"min_order_date": {"from": 1}}, "'minOrderDate' must be string"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused_naming_the_parameter(
    params: dict[str, object], named: str
) -> None:
    with pytest.raises(InvalidCall, match=named):
        normalize_params(get_operation("orders.list"), params)


def test_numbers_and_booleans_given_as_text_are_accepted() -> None:
    params = {"page": "2", "exclude_tags": "True", "shop_id": ["1", 2]}
    prepared = prepare(get_operation("orders.list"), params)
    assert prepared.query == (
        ("page", "2"),
        ("shopId[0]", "1"),
        ("shopId[1]", "2"),
        ("excludeTags", "True"),
    )


def test_a_parameter_given_under_both_names_is_refused() -> None:
    with pytest.raises(InvalidCall, match="'pageSize' is given twice"):
        normalize_params(get_operation("orders.list"), {"pageSize": 1, "page_size": 2})


def test_an_empty_path_parameter_is_refused() -> None:
    with pytest.raises(InvalidCall, match="'id'"):
        prepare(get_operation("orders.get"), {"id": ""})
