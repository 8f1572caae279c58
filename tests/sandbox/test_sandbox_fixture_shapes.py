"""For each SDK fixture, the sandbox's answer to the same request has the same shape.

The fixtures (tests/fixtures/billbee, from billbee-php-sdk's test suite) are what the
official PHP SDK reads from Billbee. "Same shape" here means: the same envelope (or none),
the same containers (object, list), and for every field both carry the same JSON type and,
for dates, the same format (with or without an offset, with or without milliseconds). The
sandbox need not fill every field of the SDK's most complete sample, but it must share most
of them (:data:`MIN_SHARED`), so a sample that looks alike by accident does not pass.

Where the SDK reads an answer bare and builds its response object itself
(``array<ShippingProvider>``), the fixture is that object: its ``Data`` is compared with
the sandbox's bare body.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from support.sandbox import DISABLED, MERCHANT, Sandbox, data_of

FIXTURES = Path(__file__).parents[1] / "fixtures" / "billbee"
ENVELOPE_KEYS = {"Data", "ErrorCode", "ErrorMessage", "ErrorDescription", "Paging"}
#: Share of a fixture object's fields the sandbox's object must also carry.
MIN_SHARED = 0.5
_DATE = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?P<ms>\.\d+)?(?P<zone>Z|[+-]\d{2}:\d{2})?$"
)


def kind(value: Any) -> str:
    """The shape of a scalar: its JSON type, and for a date string its format."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        match = _DATE.match(value)
        if match is None:
            return "string"
        zone = "offset" if match["zone"] else "local"
        return f"date-{zone}{'-ms' if match['ms'] else ''}"
    return type(value).__name__


def compare(fixture: Any, answer: Any, where: str = "$") -> list[str]:
    """Every way ``answer`` differs in shape from ``fixture`` (nulls count as absent, and so
    do empty objects and lists in the answer: they have no shape to compare)."""
    if fixture is None or answer is None or answer in ({}, []):
        return []
    if isinstance(fixture, dict):
        if not isinstance(answer, dict):
            return [f"{where}: an object in the fixture, {kind(answer)} in the sandbox"]
        present = {k for k, v in fixture.items() if v is not None}
        shared = present & {k for k, v in answer.items() if v is not None}
        problems = []
        if present and len(shared) < MIN_SHARED * len(present):
            missing = ", ".join(sorted(present - shared))
            problems.append(f"{where}: shares {len(shared)} of {len(present)} fields ({missing})")
        for key in sorted(shared):
            problems += compare(fixture[key], answer[key], f"{where}.{key}")
        return problems
    if isinstance(fixture, list):
        if not isinstance(answer, list):
            return [f"{where}: a list in the fixture, {kind(answer)} in the sandbox"]
        if fixture and answer:
            return compare(fixture[0], answer[0], f"{where}[0]")
        return []
    if isinstance(answer, dict | list):
        return [f"{where}: {kind(fixture)} in the fixture, a container in the sandbox"]
    if kind(fixture) != kind(answer):
        return [f"{where}: {kind(fixture)} in the fixture, {kind(answer)} in the sandbox"]
    return []


@dataclass(frozen=True)
class Case:
    """A fixture, the request that gets the same answer, and how the SDK reads it."""

    fixture: str
    request: Callable[[httpx.Client, dict[str, Any]], httpx.Response]
    #: "envelope" (the fixture is the wire body), "bare" (both are bare models), or
    #: "data" (the SDK wraps a bare answer: compare the fixture's Data with the body), or
    #: "item" (the fixture is one element of the bare list answered).
    reads: str = "envelope"
    account: dict[str, Any] | None = None


def _ids(api: httpx.Client) -> dict[str, Any]:
    order = data_of(api.get("/orders", params={"orderStateId": 3, "pageSize": 1}))[0]
    customer = data_of(api.get("/customers", params={"pageSize": 1}))[0]
    address = data_of(api.get(f"/customers/{customer['Id']}/addresses"))[0]
    product = data_of(api.get("/products", params={"pageSize": 1}))[0]
    hook = api.post(
        "/webhooks", json={"WebHookUri": "https://example.com/h", "Secret": "w" * 40}
    ).json()
    api.post(f"/orders/CreateInvoice/{order['BillBeeOrderId']}")
    return {
        "order": order["BillBeeOrderId"],
        "ext": order["Id"],
        "customer": customer["Id"],
        "address": address["Id"],
        "product": product["Id"],
        "sku": product["SKU"],
        "hook": hook["Id"],
    }


def _get(path: str) -> Callable[[httpx.Client, dict[str, Any]], httpx.Response]:
    return lambda api, ids: api.get(path.format(**ids))


def _post(path: str, body: Any = None) -> Callable[[httpx.Client, dict[str, Any]], httpx.Response]:
    def send(api: httpx.Client, ids: dict[str, Any]) -> httpx.Response:
        payload = body(ids) if callable(body) else body
        return api.post(path.format(**ids), json=payload)

    return send


CASES = [
    Case("Response/base_response.json", _get("/orders"), account=DISABLED),
    Case(
        "Response/create_delivery_note_response.json",
        _post("/orders/CreateDeliveryNote/{order}?includePdf=True"),
    ),
    Case(
        "Response/create_invoice_response.json",
        _post("/orders/CreateInvoice/{order}?includeInvoicePdf=True"),
    ),
    Case("Response/get_categories_response.json", _get("/products/category")),
    Case("Response/get_cloud_storages_response.json", _get("/cloudstorages")),
    Case("Response/get_custom_field_definition_response.json", _get("/products/custom-fields/2")),
    Case("Response/get_custom_field_definitions_response.json", _get("/products/custom-fields")),
    Case("Response/get_customer_address_response.json", _get("/customers/addresses/{address}")),
    Case("Response/get_customer_addresses_response.json", _get("/customers/{customer}/addresses")),
    Case("Response/get_customer_response.json", _get("/customers/{customer}")),
    Case("Response/get_customers_response.json", _get("/customers")),
    Case("Response/get_events_response.json", _get("/events")),
    Case("Response/get_invoices_response.json", _get("/orders/invoices?includePositions=True")),
    Case("Response/get_layouts_response.json", _get("/layouts")),
    Case("Response/get_order_by_partner_response.json", _get("/orders/find/{ext}/Billbee API")),
    Case("Response/get_order_response.json", _get("/orders/{order}")),
    Case("Response/get_orders_response.json", _get("/orders")),
    Case("Response/get_patchable_fields_response.json", _get("/orders/PatchableFields")),
    Case("Response/get_product_response.json", _get("/products/{product}")),
    Case("Response/get_products_response.json", _get("/products")),
    Case(
        "Response/get_shipping_providers_response.json",
        _get("/shipment/shippingproviders"),
        reads="data",
    ),
    Case("Response/get_terms_info_response.json", _get("/automaticprovision/termsinfo")),
    Case(
        "Response/search_data_response.json",
        _post("/search", {"Term": "a"}),
        reads="bare",
    ),
    Case(
        "Response/ship_with_label_response.json",
        _post(
            "/shipment/shipwithlabel",
            lambda ids: {"OrderId": ids["order"], "ProviderId": 1, "ProductId": 1},
        ),
    ),
    Case(
        "Response/update_stock_response.json",
        _post("/products/updatestock", lambda ids: {"Sku": ids["sku"], "NewQuantity": 5}),
    ),
    Case("Model/webhook.json", _get("/webhooks/{hook}"), reads="bare"),
    Case("Model/webhook_filter.json", _get("/webhooks/filters"), reads="item"),
    Case("Model/shipping_provider.json", _get("/shipment/shippingproviders"), reads="item"),
]


def test_every_response_fixture_has_a_case() -> None:
    covered = {case.fixture for case in CASES}
    fixtures = {f"Response/{p.name}" for p in (FIXTURES / "Response").glob("*.json")}
    assert fixtures <= covered


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.fixture)
def test_the_sandbox_answers_in_the_shape_of_the_sdk_fixture(sandbox: Sandbox, case: Case) -> None:
    fixture = json.loads((FIXTURES / case.fixture).read_text(encoding="utf-8"))
    ids = _ids(sandbox.client())
    response = case.request(sandbox.client(case.account or MERCHANT), ids)
    assert response.status_code == 200, response.text
    answer = response.json()
    if case.reads == "envelope":
        assert isinstance(answer, dict) and "ErrorCode" in answer, answer
        assert set(answer) <= ENVELOPE_KEYS, set(answer) - ENVELOPE_KEYS
        # The samples leave Paging out of most lists (the SDK reads it when present); an
        # error answer has no page to describe.
        if "Paging" in fixture and answer["ErrorCode"] == 0:
            assert "Paging" in answer
    elif case.reads == "data":
        fixture = fixture["Data"]
    elif case.reads == "item":
        assert isinstance(answer, list) and answer
        answer = answer[0]
    if case.reads in ("bare", "data", "item"):
        assert not (isinstance(answer, dict) and "ErrorCode" in answer), answer
    assert compare(fixture, answer) == []
