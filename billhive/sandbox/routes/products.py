"""Products (articles) and stock: list, get by id/SKU/EAN, create, patch, delete, stock."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from billhive.sandbox.envelope import SandboxError, body, invalid, not_found, ok, paged
from billhive.sandbox.records import EVENT_STOCK_CHANGED, make_product, number, public_product
from billhive.sandbox.routes.common import Call, Handler, in_range
from billhive.sandbox.state import JSON, AccountState, iso

#: Fields PATCH /products/{id} may change (GET /products/PatchableFields).
PATCHABLE_PRODUCT_FIELDS = (
    "Title",
    "Description",
    "ShortDescription",
    "EAN",
    "Price",
    "CostPrice",
    "Weight",
    "WeightNet",
    "Manufacturer",
    "StockWarning",
    "StockDesired",
    "IsDeactivated",
    "DeliveryTime",
    "TaricNumber",
    "CountryOfOrigin",
)


def _find(state: AccountState, key: str, lookup_by: str) -> JSON | None:
    if lookup_by == "id":
        return state.products.get(int(key)) if key.isdigit() else None
    field = {"sku": "SKU", "ean": "EAN"}[lookup_by]
    return next((p for p in state.products.values() if p.get(field) == key), None)


def find_product(call: Call, key: str | None = None) -> JSON:
    """The product named by ``key`` (default: path ``id``) and ``lookupBy`` (id, sku, ean)."""
    lookup_by = (call.query.get("lookupBy") or "id").lower()
    if lookup_by not in ("id", "sku", "ean"):
        raise invalid("lookupBy must be id, sku or ean.")
    product = _find(call.state, call.path["id"] if key is None else key, lookup_by)
    if product is None:
        raise not_found("Product")
    return product


def list_products(call: Call) -> Response:
    """GET /products."""
    page, size = call.paging()
    since = call.query_date("minCreatedAt")
    low = call.query_int("minimumBillBeeArticleId") or 0
    high = call.query_int("maximumBillBeeArticleId")
    rows = [
        public_product(p)
        for pid, p in sorted(call.state.products.items())
        if pid >= low and (high is None or pid <= high) and in_range(p["CreatedAt"], since, None)
    ]
    return paged(rows, page, size)


def get_product(call: Call) -> Response:
    """GET /products/{id}?lookupBy=id|sku|ean."""
    return ok(public_product(find_product(call)))


def create_product(call: Call) -> Response:
    """POST /products."""
    product = make_product(call.state, call.body_object(), call.now)
    call.state.products[product["Id"]] = product
    return ok(public_product(product))


def patch_product(call: Call) -> Response:
    """PATCH /products/{id}."""
    product = find_product(call)
    changes = call.body_object()
    unknown = sorted(set(changes) - set(PATCHABLE_PRODUCT_FIELDS))
    if unknown:
        raise invalid(f"These fields cannot be patched: {', '.join(unknown)}")
    product.update(changes)
    return ok(public_product(product))


def delete_product(call: Call) -> Response:
    """DELETE /products/{id}."""
    product = find_product(call)
    del call.state.products[product["Id"]]
    return ok(None)


def patchable_fields(call: Call) -> Response:
    """GET /products/PatchableFields."""
    return ok(list(PATCHABLE_PRODUCT_FIELDS))


def list_stocks(call: Call) -> Response:
    """GET /products/stocks: the account's stock locations."""
    return ok(call.state.stocks)


def product_for_stock_call(call: Call, data: Any) -> tuple[JSON, JSON]:
    """The article (by ``BillbeeId`` or ``Sku``) and its entry of ``StockId`` (or default)."""
    if not isinstance(data, dict):
        raise invalid("Each stock update must be a JSON object.")
    sku, billbee_id = data.get("Sku"), data.get("BillbeeId")
    if isinstance(billbee_id, int) and not isinstance(billbee_id, bool):
        product = call.state.products.get(billbee_id)
    elif isinstance(sku, str) and sku:
        product = _find(call.state, sku, "sku")
    else:
        raise invalid("Name the article by Sku or BillbeeId.")
    if product is None:
        raise not_found("Product")
    stock_id = data.get("StockId")
    entries = [s for s in product["Stocks"] if stock_id in (None, s["StockId"])][:1]
    if not entries:
        raise invalid(f"Unknown StockId {stock_id}.")
    return product, entries[0]


def _apply_stock(call: Call, data: Any) -> JSON:
    """Set one article's stock to the absolute ``NewQuantity`` (Delta/Old are ignored)."""
    product, entry = product_for_stock_call(call, data)
    quantity = float(number(data, "NewQuantity"))
    old = float(entry["StockCurrent"])
    entry["StockCurrent"] = quantity
    product["StockCurrent"] = sum(float(s["StockCurrent"]) for s in product["Stocks"])
    product["StockModifiedAt"] = iso(call.now)
    call.state.add_event(EVENT_STOCK_CHANGED, "Bestand geändert", call.now)
    return {
        "SKU": product["SKU"],
        "OldStock": old,
        "CurrentStock": quantity,
        "UnfulfilledAmount": 0.0,
        "Message": f"The qty was successfully updated from {old:g} to {quantity:g}",
    }


def update_stock(call: Call) -> Response:
    """POST /products/updatestock."""
    return ok(_apply_stock(call, call.body_object()))


def update_stock_multiple(call: Call) -> Response:
    """POST /products/updatestockmultiple: one envelope per entry, at most the batch cap."""
    items = call.bulk_items(
        "products.update_stock_multiple", call.body(), "The body (stock updates)"
    )
    results = []
    for item in items:
        try:
            results.append(body(_apply_stock(call, item)))
        except SandboxError as exc:
            results.append(body(None, code=exc.code, message=exc.message))
    return jsonify(results)


def stock_multiple(call: Call) -> Response:
    """POST /products/stockmultiple: the stock of many articles, paged like GET /products.

    ``modifiedSince`` keeps the articles whose stock changed since; an optional body
    ``{"Skus": [...]}`` (at most the cap) keeps those articles, in the order asked. Each row
    is the article's ``Id``, ``SKU`` and its ``Stocks`` entries (StockArticleApiModel).
    """
    page, size = call.paging()
    since = call.query_date("modifiedSince")
    data = call.read_json()
    if data is None:
        products = [p for _, p in sorted(call.state.products.items())]
    else:
        if not isinstance(data, dict):
            raise invalid('The body must be a JSON object: {"Skus": [...]}.')
        skus = call.bulk_items("products.stock_multiple", data.get("Skus"), "Skus")
        by_sku = {p.get("SKU"): p for p in call.state.products.values()}
        products = [by_sku[sku] for sku in dict.fromkeys(skus) if sku in by_sku]
    rows = [
        {"Id": p["Id"], "SKU": p["SKU"], "Stocks": p["Stocks"]}
        for p in products
        if since is None or in_range(p.get("StockModifiedAt") or p["CreatedAt"], since, None)
    ]
    return paged(rows, page, size)


def handlers() -> dict[str, Handler]:
    """The product and stock operations this module implements."""
    return {
        "products.list": list_products,
        "products.get": get_product,
        "products.create": create_product,
        "products.patch": patch_product,
        "products.delete": delete_product,
        "products.patchable_fields": patchable_fields,
        "products.stocks": list_stocks,
        "products.update_stock": update_stock,
        "products.update_stock_multiple": update_stock_multiple,
        "products.stock_multiple": stock_multiple,
    }
