"""The supplement only ever adds to Billbee's 2023 description."""

from __future__ import annotations

from typing import Any

import pytest

from billhive.billbee.specfile import (
    SupplementError,
    apply_supplement,
    base_spec,
    operations_of,
    supplemented_spec,
)

ORDER = "Billbee.Interfaces.BillbeeAPI.Model.Order"


def _order_schema(spec: dict[str, Any]) -> dict[str, Any]:
    schema: dict[str, Any] = spec["components"]["schemas"][ORDER]
    return schema


def test_the_supplement_adds_the_order_web_url_and_state_17() -> None:
    order = _order_schema(supplemented_spec())
    assert order["properties"]["WebUrl"]["type"] == "string"
    assert 17 in order["properties"]["State"]["enum"]
    assert "WebUrl" not in _order_schema(base_spec())["properties"]


def test_the_supplement_widens_every_error_code_enum_to_29() -> None:
    schemas = supplemented_spec()["components"]["schemas"]
    codes = [
        s["properties"]["ErrorCode"]
        for s in schemas.values()
        if "ErrorCode" in s.get("properties", {})
    ]
    assert codes and all(max(c["enum"]) == 29 for c in codes if "enum" in c)


def test_the_supplement_adds_stock_current_is_calculated_and_carriers_19_and_20() -> None:
    schemas = supplemented_spec()["components"]["schemas"]
    stock = schemas["Billbee.Interfaces.BillbeeAPI.Model.StockArticleApiModel"]
    assert stock["properties"]["StockCurrentIsCalculated"]["type"] == "boolean"
    shipment = schemas["Billbee.Interfaces.BillbeeAPI.Model.CreateShipmentApiModel"]
    assert {19, 20} <= set(shipment["properties"]["shippingCarrier"]["enum"])


def test_every_operation_of_the_supplemented_spec_names_its_source() -> None:
    assert all("x-billhive-source" in op for op in operations_of(supplemented_spec()).values())


def test_a_supplement_that_would_replace_a_published_operation_is_refused() -> None:
    spec = base_spec()
    extra = {"paths": {"/api/v1/orders": {"get": {"x-billhive-source": "oplist-2026"}}}}
    with pytest.raises(SupplementError, match="GET /api/v1/orders"):
        apply_supplement(spec, extra)


def test_a_patch_of_an_operation_that_does_not_exist_is_refused() -> None:
    with pytest.raises(SupplementError, match="no such operation"):
        apply_supplement(base_spec(), {"operations": {"GET /api/v1/nothing": {"deprecated": True}}})


def test_a_new_operation_without_a_source_is_refused() -> None:
    extra = {"paths": {"/api/v1/new": {"get": {"operationId": "X"}}}}
    with pytest.raises(SupplementError, match="x-billhive-source"):
        apply_supplement(base_spec(), extra)


def test_a_property_the_2023_file_already_has_is_not_redefined() -> None:
    extra = {"schemas": {ORDER: {"properties": {"State": {}}}}}
    with pytest.raises(SupplementError, match="already"):
        apply_supplement(base_spec(), extra)
