"""The operation catalog matches Billbee's API description (the 2023 file with billhive's
supplement applied), operation by operation."""

from __future__ import annotations

import pytest

from billhive.billbee.operations import (
    API_PREFIX,
    DEPRECATED,
    OPERATIONS,
    SOURCES,
    UnknownOperation,
    get_operation,
)
from billhive.billbee.specfile import base_spec, operations_of, supplemented_spec

SPEC = operations_of(supplemented_spec())
BASE = operations_of(base_spec())
BY_ROUTE = {(op.method, op.url_path): op for op in OPERATIONS.values()}


def test_the_2023_file_holds_76_operations_and_the_supplement_11_more() -> None:
    assert len(BASE) == 76
    assert len(SPEC) == 87


def test_the_catalog_holds_all_87_operations_of_the_supplemented_spec() -> None:
    assert len(OPERATIONS) == 87


@pytest.mark.parametrize("route", sorted(SPEC), ids=lambda r: f"{r[0]} {r[1]}")
def test_every_spec_route_has_a_named_operation(route: tuple[str, str]) -> None:
    assert route in BY_ROUTE, f"{route} has no named operation"


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_every_named_operation_is_a_route_of_the_spec(name: str) -> None:
    op = OPERATIONS[name]
    assert (op.method, op.url_path) in SPEC, f"{name} names a route the spec lacks"


def test_operation_names_and_routes_are_unique() -> None:
    assert len(BY_ROUTE) == len(OPERATIONS)
    assert all(name == op.name for name, op in OPERATIONS.items())


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_parameters_and_body_match_the_spec(name: str) -> None:
    op = OPERATIONS[name]
    spec_op = SPEC[(op.method, op.url_path)]
    params = spec_op.get("parameters", [])
    assert op.operation_id == spec_op["operationId"]
    assert op.path_params == tuple(p["name"] for p in params if p["in"] == "path")
    expected_query = [
        (p["name"], bool(p.get("required")), p["schema"].get("type") == "array")
        for p in params
        if p["in"] == "query"
    ]
    assert sorted((q.name, q.required, q.is_array) for q in op.query_params) == sorted(
        expected_query
    )
    assert op.has_body == ("requestBody" in spec_op)
    assert op.path_param_types == tuple(p["schema"]["type"] for p in params if p["in"] == "path")


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_each_operation_names_the_source_of_its_description(name: str) -> None:
    op = OPERATIONS[name]
    spec_op = SPEC[(op.method, op.url_path)]
    assert op.source in SOURCES
    assert spec_op["x-billhive-source"] == op.source
    assert (op.source == "spec-2023") == ((op.method, op.url_path) in BASE)


@pytest.mark.parametrize("name", sorted(OPERATIONS))
def test_deprecation_in_the_catalog_matches_the_spec(name: str) -> None:
    op = OPERATIONS[name]
    spec_op = SPEC[(op.method, op.url_path)]
    assert bool(op.deprecated) == bool(spec_op.get("deprecated"))
    spec_params = {p["name"]: p for p in spec_op.get("parameters", [])}
    for query in op.query_params:
        assert bool(query.deprecated) == bool(spec_params[query.name].get("deprecated"))


def test_the_deprecated_operations_are_ping_find_by_partner_and_the_address_patch() -> None:
    assert set(DEPRECATED) == {
        "shipments.ping",
        "orders.find_by_partner",
        "customers.patch_address",
    }
    assert "customer_addresses.update" in DEPRECATED["customers.patch_address"]


def test_the_shop_id_of_orders_create_is_deprecated_for_api_account_id() -> None:
    shop_id = next(q for q in get_operation("orders.create").query_params if q.name == "shopId")
    assert "ApiAccountId" in shop_id.deprecated


@pytest.mark.parametrize(
    ("name", "route"),
    [
        ("shop_accounts.list", ("GET", "/shopaccounts")),
        ("enums.shop_account_types", ("GET", "/enums/shopaccounttype")),
        ("enums.account_sync_states", ("GET", "/enums/accountsyncstate")),
        ("orders.add_message", ("POST", "/orders/{id}/message")),
        ("api_usage.summary", ("GET", "/apiusage")),
        ("api_usage.detail", ("GET", "/apiusage/detail")),
        ("orders.create_multiple", ("POST", "/orders/createmultiple")),
        ("orders.add_tags_multiple", ("POST", "/orders/tags")),
        ("products.stock_multiple", ("POST", "/products/stockmultiple")),
        ("shipments.create_multiple", ("POST", "/shipment/shipmentmultiple")),
        ("shipments.ship_with_label_multiple", ("POST", "/shipment/shipwithlabelmultiple")),
    ],
)
def test_the_eleven_newer_operations_have_names(name: str, route: tuple[str, str]) -> None:
    op = get_operation(name)
    assert (op.method, op.path) == route
    assert op.source != "spec-2023"


@pytest.mark.parametrize(
    "name",
    [
        "orders.list",
        "orders.get",
        "orders.update_state",
        "products.update_stock",
        "products.update_stock_multiple",
        "customers.list",
        "webhooks.create",
        "events.list",
    ],
)
def test_the_names_the_issue_promises_exist(name: str) -> None:
    assert get_operation(name).name == name


def test_names_are_resource_dot_action_in_snake_case() -> None:
    for name, op in OPERATIONS.items():
        resource, _, action = name.partition(".")
        assert resource == op.resource and action == op.action
        assert resource.replace("_", "").isalpha() and resource.islower()
        assert action.replace("_", "").isalpha() and action.islower()


def test_operation_paths_are_relative_to_the_api_prefix() -> None:
    assert get_operation("orders.get").path == "/orders/{id}"
    assert get_operation("orders.get").url_path == API_PREFIX + "/orders/{id}"


def test_array_query_parameters_keep_the_spec_names() -> None:
    arrays = {q.name for q in get_operation("orders.list").query_params if q.is_array}
    assert arrays == {"shopId", "orderStateId", "tag"}


@pytest.mark.parametrize(
    "name",
    ["orders.list", "orders.get", "orders.update_state", "webhooks.delete", "orders.patch"],
)
def test_reads_and_absolute_writes_are_idempotent(name: str) -> None:
    assert get_operation(name).idempotent


@pytest.mark.parametrize(
    "name",
    [
        "products.update_stock",
        "products.update_stock_multiple",
        "search.search",
        "products.stock_multiple",
    ],
)
def test_posts_that_repeat_harmlessly_are_idempotent(name: str) -> None:
    assert get_operation(name).idempotent


@pytest.mark.parametrize(
    "name",
    [
        "orders.create",
        "orders.create_invoice",
        "orders.create_delivery_note",
        "orders.add_shipment",
        "orders.send_message",
        "webhooks.create",
        "products.create",
        "customers.create",
        "shipments.ship_with_label",
        "orders.add_message",
        "orders.create_multiple",
        "orders.add_tags_multiple",
        "shipments.create_multiple",
        "shipments.ship_with_label_multiple",
    ],
)
def test_creating_writes_are_not_idempotent(name: str) -> None:
    assert not get_operation(name).idempotent


def test_unknown_operation_is_a_key_error_naming_the_operation() -> None:
    with pytest.raises(KeyError) as caught:
        get_operation("orders.explode")
    assert isinstance(caught.value, UnknownOperation)
    assert "orders.explode" in str(caught.value)


def test_the_api_usage_date_is_sent_as_request_date_and_accepted_as_date() -> None:
    from billhive.billbee.request import prepare

    prepared = prepare(get_operation("api_usage.summary"), {"date": "2026-12-01T00:00:00"})
    assert prepared.query == (("request.date", "2026-12-01T00:00:00"),)
