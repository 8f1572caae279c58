"""The operation catalog matches Billbee's published API description, operation by operation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

import billhive.billbee.operations as operations_module
from billhive.billbee.operations import (
    API_PREFIX,
    OPERATIONS,
    UnknownOperation,
    get_operation,
)

SPEC_PATH = Path(operations_module.__file__).parent / "spec" / "openapi.json"
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}


def _spec_operations() -> dict[tuple[str, str], dict[str, Any]]:
    spec = json.loads(SPEC_PATH.read_text(encoding="utf-8"))
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                found[(method.upper(), path)] = operation
    return found


SPEC = _spec_operations()
BY_ROUTE = {(op.method, op.url_path): op for op in OPERATIONS.values()}


def test_the_catalog_holds_all_76_operations_of_the_spec() -> None:
    assert len(SPEC) == 76
    assert len(OPERATIONS) == 76


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
    "name", ["products.update_stock", "products.update_stock_multiple", "search.search"]
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
    ],
)
def test_creating_writes_are_not_idempotent(name: str) -> None:
    assert not get_operation(name).idempotent


def test_unknown_operation_is_a_key_error_naming_the_operation() -> None:
    with pytest.raises(KeyError) as caught:
        get_operation("orders.explode")
    assert isinstance(caught.value, UnknownOperation)
    assert "orders.explode" in str(caught.value)
