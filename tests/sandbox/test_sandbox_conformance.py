"""Every implemented operation answers with a body that validates against Billbee's
description (the 2023 file with billhive's supplement applied).

openapi-core validates each real HTTP answer against the spec's response schema of its
operation. The spec came from Swagger 2.0, which cannot say ``nullable``, so null values are
removed before validation ("treat null as absent", FACTS.md). Where the SDKs show Billbee
answering otherwise than the description says (a bare model, an empty body), the sandbox
follows the SDKs and this test checks that form (docs/sandbox.md, "Answers").
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import Any

import httpx
import pytest
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from support.sandbox import data_of
from werkzeug.datastructures import Headers, ImmutableMultiDict

from billhive.billbee.operations import OPERATIONS
from billhive.billbee.specfile import supplemented_spec
from billhive.sandbox import implemented_operations

SPEC_HOST = "https://app.billbee.io"


#: Operations whose spec answer is a bare ``{"type": "object"}`` (the Swagger generator's
#: rendering of an untyped .NET result) while Billbee and both official SDKs exchange a JSON
#: array (.NET: ``GetAsync<List<EnumEntry>>("/enums/orderstates")``; PHP:
#: ``WebHookFilter::class . '[]'``). The sandbox sends the array; the test checks its items.
UNTYPED_LIST_ANSWERS: dict[str, set[str]] = {
    "enums.order_states": {"Id", "Name"},
    "enums.payment_types": {"Id", "Name"},
    "enums.shipment_types": {"Id", "Name"},
    "enums.shipping_carriers": {"Id", "Name"},
    "shipments.shipping_carriers": {"Id", "Name"},
    "webhooks.filters": {"Name", "Description"},
    "enums.shop_account_types": {"Id", "Name"},
    "enums.account_sync_states": {"Id", "Name"},
}
#: Answers the SDKs read bare although the description wraps them in an envelope
#: (billbee-php-sdk: ``SearchDataResponse``, ``array<ShippingProvider>``;
#: billbee-csharp-sdk: ``Post<SearchResult>``, ``Get<List<ShippingProvider>>``). Wrapped
#: into the envelope the description expects, the bare body must validate.
BARE_ANSWERS = {"search.search", "shipments.shipping_providers"}
#: Answers that are an empty 200: the PHP SDK reads success as "nothing came back"
#: (``return $res === null``) after these.
EMPTY_ANSWERS = {
    "orders.update_state",
    "orders.add_shipment",
    "orders.send_message",
    "orders.trigger_event",
    "webhooks.update",
    "webhooks.delete",
    "webhooks.delete_all",
}
#: The short order row of GET /customers/{id}/orders declares ``Id`` as int32, but it
#: carries Billbee's int64 order id (100000186018330 in the SDK fixtures), so the range
#: check of ``int32`` is relaxed for this one operation.
INT64_IDS_IN_INT32_FIELDS = {"customers.list_orders"}


@cache
def spec(relax_int32: bool = False) -> OpenAPI:
    """The parsed spec (once per test session and variant)."""
    formats: dict[str, Callable[[Any], bool]] = {"date-time": billbee_date_time}
    if relax_int32:
        formats["int32"] = _any_int
    return OpenAPI.from_dict(supplemented_spec(), config=Config(extra_format_validators=formats))


def _any_int(value: Any) -> bool:
    return isinstance(value, int)


def billbee_date_time(value: Any) -> bool:
    """A ``date-time`` as Billbee writes it: ISO 8601 with an offset
    (``2022-07-22T00:00:00+00:00``, orders) or without (``2022-08-10T00:00:00``,
    ``2022-07-16T09:56:01.903``: shipping dates, events, invoices, as the SDK fixtures
    show). The spec's ``date-time`` is the Swagger rendering of a .NET DateTime, which has
    no offset unless its kind is UTC; RFC 3339 (the format's usual check) demands one."""
    if not isinstance(value, str) or "T" not in value:
        return False
    try:
        datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def without_nulls(value: Any) -> Any:
    """``value`` with every null member and item removed, recursively."""
    if isinstance(value, dict):
        return {k: without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_nulls(v) for v in value if v is not None]
    return value


@dataclass
class SpecRequest:
    """The request side of openapi-core's protocol, for one catalog operation."""

    operation: str  # not "name": openapi-core would take it for a webhook request
    path_values: dict[str, str]
    parameters: RequestParameters = field(default_factory=RequestParameters)
    body: bytes | None = None
    content_type: str = "application/json"
    host_url: str = SPEC_HOST

    @property
    def method(self) -> str:
        return OPERATIONS[self.operation].method.lower()

    @property
    def path(self) -> str:
        path = OPERATIONS[self.operation].url_path
        for key, value in self.path_values.items():
            path = path.replace("{" + key + "}", value)
        return path

    @property
    def path_pattern(self) -> str:
        return OPERATIONS[self.operation].url_path


@dataclass
class SpecResponse:
    """The response side of openapi-core's protocol, built from an httpx answer."""

    status_code: int
    data: bytes
    content_type: str = "application/json"
    headers: Headers = field(default_factory=Headers)

    @classmethod
    def of(cls, response: httpx.Response, *, wrap: bool = False) -> SpecResponse:
        payload = response.json()
        if wrap:
            payload = {"ErrorCode": 0, "Data": payload}
        body = json.dumps(without_nulls(payload)).encode()
        return cls(response.status_code, body)


def assert_conforms(name: str, response: httpx.Response, path_values: dict[str, str]) -> None:
    """Validate ``response`` of operation ``name`` against the spec."""
    assert response.status_code in (200, 201), response.text
    if name in EMPTY_ANSWERS:
        assert response.status_code == 200 and response.content == b""
        return
    if name in UNTYPED_LIST_ANSWERS:
        items = response.json()
        assert isinstance(items, list) and items
        assert all(set(item) == UNTYPED_LIST_ANSWERS[name] for item in items)
        return
    request = SpecRequest(name, path_values)
    request.parameters.path = path_values
    request.parameters.query = ImmutableMultiDict()
    if name in BARE_ANSWERS:
        assert "ErrorCode" not in response.json()
    answer = SpecResponse.of(response, wrap=name in BARE_ANSWERS)
    spec(name in INT64_IDS_IN_INT32_FIELDS).validate_response(request, answer)


# -- one real call per implemented operation ---------------------------------------------

Recipe = Callable[[httpx.Client, dict[str, Any]], tuple[httpx.Response, dict[str, str]]]
SECRET = "w" * 40


def _ids(api: httpx.Client) -> dict[str, Any]:
    order = data_of(api.get("/orders", params={"orderStateId": 3}))[0]
    product = data_of(api.get("/products"))[0]
    customer = data_of(api.get("/customers"))[0]
    address = data_of(api.get("/customer-addresses"))[0]
    hook = api.post(
        "/webhooks", json={"WebHookUri": "https://example.com/h", "Secret": SECRET}
    ).json()
    api.post(f"/orders/CreateInvoice/{order['BillBeeOrderId']}")
    return {
        "order": str(order["BillBeeOrderId"]),
        "ext": order["Id"],
        "product": str(product["Id"]),
        "image": str(product["Images"][0]["Id"]),
        "sku": product["SKU"],
        "customer": str(customer["Id"]),
        "address": str(address["Id"]),
        "webhook": hook["Id"],
    }


def _get(path: str, **values: str) -> Recipe:
    def call(api: httpx.Client, ids: dict[str, Any]) -> tuple[httpx.Response, dict[str, str]]:
        resolved = {k: ids[v] for k, v in values.items()}
        return api.get(path.format(**resolved)), resolved

    return call


def _send(method: str, path: str, body: Any, **values: str) -> Recipe:
    def call(api: httpx.Client, ids: dict[str, Any]) -> tuple[httpx.Response, dict[str, str]]:
        resolved = {k: ids[v] for k, v in values.items()}
        payload = body(ids) if callable(body) else body
        return api.request(method, path.format(**resolved), json=payload), resolved

    return call


RECIPES: dict[str, Recipe] = {
    "orders.list": _get("/orders"),
    "orders.get": _get("/orders/{id}", id="order"),
    "orders.find_by_ext_ref": _get("/orders/findbyextref/{extRef}", extRef="ext"),
    "orders.find_by_partner": lambda api, ids: (
        api.get(f"/orders/find/{ids['ext']}/Billbee API"),
        {"id": ids["ext"], "partner": "Billbee API"},
    ),
    "orders.create": _send(
        "POST", "/orders", {"OrderNumber": "C-1", "OrderItems": [{"Quantity": 1}]}
    ),
    "orders.update_state": _send("PUT", "/orders/{id}/orderstate", {"NewStateId": 2}, id="order"),
    "orders.add_shipment": _send(
        "POST", "/orders/{id}/shipment", {"ShippingId": "T-1"}, id="order"
    ),
    "orders.add_tags": _send("POST", "/orders/{id}/tags", {"Tags": ["A"]}, id="order"),
    "orders.set_tags": _send("PUT", "/orders/{id}/tags", {"Tags": ["B"]}, id="order"),
    "orders.patch": _send("PATCH", "/orders/{id}", {"SellerComment": "x"}, id="order"),
    "orders.patchable_fields": _get("/orders/PatchableFields"),
    "orders.create_invoice": _send("POST", "/orders/CreateInvoice/{id}", None, id="order"),
    "orders.create_delivery_note": _send(
        "POST", "/orders/CreateDeliveryNote/{id}", None, id="order"
    ),
    "orders.list_invoices": _get("/orders/invoices"),
    "products.list": _get("/products"),
    "products.get": _get("/products/{id}", id="product"),
    "products.create": _send("POST", "/products", {"SKU": "CONF-1", "Price": 1.5}),
    "products.patch": _send("PATCH", "/products/{id}", {"Price": 2.5}, id="product"),
    "products.delete": _send("DELETE", "/products/{id}", None, id="product"),
    "products.patchable_fields": _get("/products/PatchableFields"),
    "products.stocks": _get("/products/stocks"),
    "products.update_stock": _send(
        "POST", "/products/updatestock", lambda ids: {"Sku": ids["sku"], "NewQuantity": 4}
    ),
    "products.update_stock_multiple": _send(
        "POST", "/products/updatestockmultiple", lambda ids: [{"Sku": ids["sku"], "NewQuantity": 5}]
    ),
    "customers.list": _get("/customers"),
    "customers.get": _get("/customers/{id}", id="customer"),
    "customers.create": _send("POST", "/customers", {"Name": "Neu", "Address": {"City": "Bonn"}}),
    "customers.update": _send("PUT", "/customers/{id}", {"Tel1": "1"}, id="customer"),
    "customers.list_addresses": _get("/customers/{id}/addresses", id="customer"),
    "customers.add_address": _send(
        "POST", "/customers/{id}/addresses", {"City": "Ulm"}, id="customer"
    ),
    "customers.get_address": _get("/customers/addresses/{id}", id="address"),
    "customers.update_address": _send(
        "PUT", "/customers/addresses/{id}", {"City": "Ulm"}, id="address"
    ),
    "customers.patch_address": _send(
        "PATCH", "/customers/addresses/{id}", {"Zip": "1"}, id="address"
    ),
    "customers.list_orders": _get("/customers/{id}/orders", id="customer"),
    "customer_addresses.list": _get("/customer-addresses"),
    "customer_addresses.get": _get("/customer-addresses/{id}", id="address"),
    "customer_addresses.create": _send(
        "POST", "/customer-addresses", lambda ids: {"CustomerId": int(ids["customer"])}
    ),
    "customer_addresses.update": _send(
        "PUT", "/customer-addresses/{id}", {"City": "Kiel"}, id="address"
    ),
    "webhooks.list": _get("/webhooks"),
    "webhooks.get": _get("/webhooks/{id}", id="webhook"),
    "webhooks.create": _send(
        "POST", "/webhooks", {"WebHookUri": "https://e.com/x", "Secret": SECRET}
    ),
    "webhooks.update": _send(
        "PUT", "/webhooks/{id}", {"WebHookUri": "https://e.com/y", "Secret": SECRET}, id="webhook"
    ),
    "webhooks.delete": _send("DELETE", "/webhooks/{id}", None, id="webhook"),
    "webhooks.delete_all": _send("DELETE", "/webhooks", None),
    "webhooks.filters": _get("/webhooks/filters"),
    "enums.order_states": _get("/enums/orderstates"),
    "enums.payment_types": _get("/enums/paymenttypes"),
    "enums.shipment_types": _get("/enums/shipmenttypes"),
    "enums.shipping_carriers": _get("/enums/shippingcarriers"),
    "events.list": _get("/events"),
    "shipments.list": _get("/shipment/shipments"),
    "shipments.ping": _get("/shipment/ping"),
    "shipments.shipping_providers": _get("/shipment/shippingproviders"),
    "shipments.shipping_carriers": _get("/shipment/shippingcarriers"),
    "layouts.list": _get("/layouts"),
    "cloud_storages.list": _get("/cloudstorages"),
    "products.categories": _get("/products/category"),
    "products.list_custom_fields": _get("/products/custom-fields"),
    "products.get_custom_field": lambda api, ids: (
        api.get("/products/custom-fields/1"),
        {"id": "1"},
    ),
    "products.reserved_amount": lambda api, ids: (
        api.get("/products/reservedamount", params={"id": ids["sku"], "lookupBy": "sku"}),
        {},
    ),
    "products.update_stock_code": _send(
        "POST", "/products/updatestockcode", lambda ids: {"Sku": ids["sku"], "StockCode": "A-1"}
    ),
    "search.search": _send("POST", "/search", {"Term": "a"}),
    "orders.send_message": _send(
        "POST",
        "/orders/{id}/send-message",
        {"Body": [{"LanguageCode": "DE", "Text": "x"}]},
        id="order",
    ),
    "orders.trigger_event": _send("POST", "/orders/{id}/trigger-event", {"Name": "x"}, id="order"),
    "provisioning.terms_info": _get("/automaticprovision/termsinfo"),
    "products.list_images": _get("/products/{productId}/images", productId="product"),
    "products.put_images": _send(
        "PUT", "/products/{productId}/images", [{"Url": "https://e.com/i.jpg"}], productId="product"
    ),
    "products.get_product_image": _get(
        "/products/{productId}/images/{imageId}", productId="product", imageId="image"
    ),
    "products.put_product_image": _send(
        "PUT",
        "/products/{productId}/images/{imageId}",
        {"Url": "https://e.com/j.jpg"},
        productId="product",
        imageId="image",
    ),
    "products.delete_product_image": _send(
        "DELETE",
        "/products/{productId}/images/{imageId}",
        None,
        productId="product",
        imageId="image",
    ),
    "products.get_image": _get("/products/images/{imageId}", imageId="image"),
    "products.delete_image": _send("DELETE", "/products/images/{imageId}", None, imageId="image"),
    "products.delete_images": _send(
        "POST", "/products/images/delete", lambda ids: [int(ids["image"])]
    ),
    "shipments.create": _send(
        "POST", "/shipment/shipment", {"ProviderName": "DHL", "ReceiverAddress": {"City": "Bonn"}}
    ),
    "shipments.ship_with_label": _send(
        "POST",
        "/shipment/shipwithlabel",
        lambda ids: {"OrderId": int(ids["order"]), "ProviderId": 1, "ProductId": 1},
    ),
    "shop_accounts.list": _get("/shopaccounts"),
    "enums.shop_account_types": _get("/enums/shopaccounttype"),
    "enums.account_sync_states": _get("/enums/accountsyncstate"),
    "orders.add_message": _send(
        "POST",
        "/orders/{id}/message",
        {"IsInternal": False, "SenderName": "billhive", "Text": "Paket ist unterwegs"},
        id="order",
    ),
    "api_usage.summary": _get("/apiusage"),
    "api_usage.detail": _get("/apiusage/detail"),
    "orders.create_multiple": _send(
        "POST",
        "/orders/createmultiple",
        [{"OrderNumber": "M-1", "OrderItems": [{"Quantity": 1}]}, {"OrderNumber": "M-2"}],
    ),
    "orders.add_tags_multiple": _send(
        "POST",
        "/orders/tags",
        lambda ids: {"OrderIds": [int(ids["order"]), 1], "Tags": ["Eilig"]},
    ),
    "products.stock_multiple": _send(
        "POST", "/products/stockmultiple", lambda ids: {"Skus": [ids["sku"]]}
    ),
    "shipments.create_multiple": _send(
        "POST",
        "/shipment/shipmentmultiple",
        [{"ProviderName": "DHL", "ReceiverAddress": {"City": "Bonn"}}, {"ProviderName": "?"}],
    ),
    "shipments.ship_with_label_multiple": _send(
        "POST",
        "/shipment/shipwithlabelmultiple",
        lambda ids: [{"OrderId": int(ids["order"]), "ProviderId": 1, "ProductId": 1}],
    ),
}


def test_every_implemented_operation_has_a_conformance_recipe() -> None:
    assert sorted(RECIPES) == implemented_operations()


@pytest.mark.parametrize("name", implemented_operations())
def test_the_answer_validates_against_the_spec(api: httpx.Client, name: str) -> None:
    response, path_values = RECIPES[name](api, _ids(api))
    assert_conforms(name, response, path_values)
