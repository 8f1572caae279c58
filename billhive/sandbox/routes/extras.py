"""Smaller operations: layouts, cloud storages, categories, custom fields, reserved
amounts, stock codes, search, order messages and triggered events, terms info."""

from __future__ import annotations

from flask import Response, jsonify

from billhive.sandbox.envelope import empty, invalid, not_found, ok, paged
from billhive.sandbox.records import EVENT_RULE_EXECUTED, history, touch
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.routes.orders import find_order
from billhive.sandbox.routes.products import find_product, product_for_stock_call
from billhive.sandbox.state import JSON, iso

LAYOUTS = [
    {"Id": 1, "Name": "Rechnung", "Type": 1},
    {"Id": 2, "Name": "Lieferschein", "Type": 2},
]
CLOUD_STORAGES = [
    {"Id": 1, "Name": "Sandbox-Ablage", "Type": "BillbeeCloudStorage", "UsedAsPrinter": False}
]
CATEGORIES = [{"Id": 1, "Name": "Honig"}, {"Id": 2, "Name": "Kerzen"}, {"Id": 3, "Name": "Zubehör"}]
CUSTOM_FIELDS = [
    {"Id": 1, "Name": "Sorte", "Type": 0, "IsNullable": True, "Configuration": {}},
    {
        "Id": 2,
        "Name": "Allergene",
        "Type": 3,
        "IsNullable": True,
        "Configuration": {"Choices": "Pollen\nNüsse", "Multiple": True},
    },
]
#: Order states whose items still wait for stock (ordered, confirmed, paid, packed, fulfilling).
OPEN_STATES = {1, 2, 3, 13, 16}
SEARCH_TYPES = {"order", "product", "customer"}


def list_layouts(call: Call) -> Response:
    """GET /layouts."""
    return ok(LAYOUTS)


def list_cloud_storages(call: Call) -> Response:
    """GET /cloudstorages."""
    return ok(CLOUD_STORAGES)


def list_categories(call: Call) -> Response:
    """GET /products/category."""
    return ok(CATEGORIES)


def list_custom_fields(call: Call) -> Response:
    """GET /products/custom-fields."""
    page, size = call.paging()
    return paged(CUSTOM_FIELDS, page, size)


def get_custom_field(call: Call) -> Response:
    """GET /products/custom-fields/{id}."""
    wanted = call.path_int("id")
    field = next((f for f in CUSTOM_FIELDS if f["Id"] == wanted), None)
    if field is None:
        raise not_found("Custom field")
    return ok(field)


def reserved_amount(call: Call) -> Response:
    """GET /products/reservedamount?id=...&lookupBy=id|sku|ean: quantity in open orders."""
    key = call.query.get("id")
    if not key:
        raise invalid("id is required.")
    product = find_product(call, key)
    reserved = sum(
        float(item["Quantity"])
        for order in call.state.orders.values()
        if order["State"] in OPEN_STATES
        for item in order["OrderItems"]
        if item["Product"].get("SKU") == product["SKU"]
    )
    return ok({"ReservedAmount": reserved})


def update_stock_code(call: Call) -> Response:
    """POST /products/updatestockcode: the storage place of an article in one stock."""
    data = call.body_object()
    code = data.get("StockCode")
    if not isinstance(code, str):
        raise invalid("StockCode must be a string.")
    product, entry = product_for_stock_call(call, data)
    entry["StockCode"] = code
    product["StockCode"] = code
    return ok({})


def _matches(term: str, *values: object) -> bool:
    return any(term in str(v).casefold() for v in values if v)


def search(call: Call) -> Response:
    """POST /search: a case-insensitive substring search over orders, products, customers.

    The answer is bare ``{Products, Orders, Customers}``: both SDKs read it so
    (billbee-php-sdk SearchDataResponse, billbee-csharp-sdk ``Post<SearchResult>``), though
    the 2023 description puts it in an envelope."""
    data = call.body_object()
    term = data.get("Term")
    if not isinstance(term, str) or not term.strip():
        raise invalid("Term is required.")
    kinds = data.get("Type") or sorted(SEARCH_TYPES)
    if not isinstance(kinds, list) or not set(kinds) <= SEARCH_TYPES:
        raise invalid("Type must be a list of: order, product, customer.")
    term = term.strip().casefold()
    results: JSON = {"Products": [], "Orders": [], "Customers": []}
    if "product" in kinds:
        results["Products"] = [
            {"Id": p["Id"], "SKU": p["SKU"], "ShortText": p["Title"][0]["Text"], "Tags": ""}
            for p in call.state.products.values()
            if _matches(term, p["SKU"], p["Title"][0]["Text"], p.get("EAN"))
        ]
    if "order" in kinds:
        results["Orders"] = [
            {
                "Id": o["BillBeeOrderId"],
                "ExternalReference": o["Id"],
                "BuyerName": " ".join(
                    filter(None, (o["InvoiceAddress"].get(k) for k in ("FirstName", "LastName")))
                ),
                "ArticleTexts": ", ".join(i["Product"].get("Title", "") for i in o["OrderItems"]),
            }
            for o in call.state.orders.values()
            if _matches(term, o["Id"], o["OrderNumber"], *o["InvoiceAddress"].values())
        ]
    if "customer" in kinds:
        results["Customers"] = [
            {"Id": c["Id"], "Name": c["Name"], "Number": str(c["Number"])}
            for c in call.state.customers.values()
            if _matches(term, c["Name"], c.get("Email"), c["Number"])
        ]
    return jsonify(results)


def send_message(call: Call) -> Response:
    """POST /orders/{id}/send-message: recorded as a comment (nothing is mailed); an empty
    200 (billbee-php-sdk sendMessage: ``return $res === '' || $res === null``)."""
    order = find_order(call)
    data = call.body_object()
    body = data.get("Body")
    if not isinstance(body, list) or not body or not all(isinstance(t, dict) for t in body):
        raise invalid("Body must be a non-empty list of {LanguageCode, Text}.")
    order["Comments"].append(
        {
            "Id": call.state.new_id(),
            "Created": iso(call.now),
            "FromCustomer": False,
            "Text": str(body[0].get("Text", "")),
            "Name": "API",
        }
    )
    touch(order, call.now)
    return empty()


def trigger_event(call: Call) -> Response:
    """POST /orders/{id}/trigger-event: recorded in the order history and event log; an
    empty 200 (billbee-csharp-sdk reads nothing back)."""
    order = find_order(call)
    name = call.body_object().get("Name")
    if not isinstance(name, str) or not name:
        raise invalid("Name is required.")
    order["History"].append(history(call.now, "Ereignis ausgelöst", name, 0))
    call.state.add_event(
        EVENT_RULE_EXECUTED, f"Ereignis ausgelöst: {name}", call.now, order["BillBeeOrderId"]
    )
    return empty()


def terms_info(call: Call) -> Response:
    """GET /automaticprovision/termsinfo."""
    return ok(
        {
            "LinkToTermsWebPage": "https://www.billbee.io/agb/",
            "LinkToPrivacyWebPage": "https://www.billbee.io/datenschutz/",
        }
    )


def handlers() -> dict[str, Handler]:
    """The smaller operations this module implements."""
    return {
        "layouts.list": list_layouts,
        "cloud_storages.list": list_cloud_storages,
        "products.categories": list_categories,
        "products.list_custom_fields": list_custom_fields,
        "products.get_custom_field": get_custom_field,
        "products.reserved_amount": reserved_amount,
        "products.update_stock_code": update_stock_code,
        "search.search": search,
        "orders.send_message": send_message,
        "orders.trigger_event": trigger_event,
        "provisioning.terms_info": terms_info,
    }
