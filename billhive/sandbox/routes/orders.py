"""Orders: list with filters and paging, get, find, create (one or many), state, shipment,
tags (one order or many), messages, patch."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from billhive.billbee.enums import SHIPPING_CARRIERS
from billhive.sandbox.envelope import SandboxError, body, empty, invalid, not_found, ok, paged
from billhive.sandbox.records import (
    EVENT_ORDER_IMPORTED,
    EVENT_ORDER_MODIFIED,
    EVENT_SHIPMENT_ADDED,
    EVENT_STATE_CHANGED,
    ORDER_STATES,
    history,
    make_order,
    touch,
)
from billhive.sandbox.routes.common import Call, Handler, in_range
from billhive.sandbox.state import JSON, iso

#: Top-level order fields PATCH /orders/{id} may change (GET /orders/PatchableFields).
PATCHABLE_ORDER_FIELDS = (
    "SellerComment",
    "CustomInvoiceNote",
    "ShippingCost",
    "AdjustmentCost",
    "AdjustmentReason",
    "PaymentMethod",
    "PaymentReference",
    "InvoiceAddress",
    "ShippingAddress",
    "DistributionCenter",
    "VatId",
    "LanguageCode",
)


def find_order(call: Call) -> JSON:
    """The order named by the ``id`` path parameter, or OrderNotFound."""
    order = call.state.orders.get(call.path_int("id"))
    if order is None:
        raise not_found("Order")
    return order


def list_orders(call: Call) -> Response:
    """GET /orders."""
    page, size = call.paging()
    min_date, max_date = call.query_date("minOrderDate"), call.query_date("maxOrderDate")
    mod_min, mod_max = call.query_date("modifiedAtMin"), call.query_date("modifiedAtMax")
    shops = call.query_ints("shopId")
    states = call.query_ints("orderStateId")
    tags = set(call.query_list("tag"))
    exclude_tags = call.query_bool("excludeTags")
    minimum_id = call.query_int("minimumBillBeeOrderId") or 0

    def matches(order: JSON) -> bool:
        if order["BillBeeOrderId"] < minimum_id:
            return False
        if shops and order["Seller"].get("BillbeeShopId") not in shops:
            return False
        if states and order["State"] not in states:
            return False
        if tags and bool(tags & set(order["Tags"])) == exclude_tags:
            return False
        return in_range(order["CreatedAt"], min_date, max_date) and in_range(
            order["LastModifiedAt"], mod_min, mod_max
        )

    rows = [o for _, o in sorted(call.state.orders.items()) if matches(o)]
    return paged(rows, page, size)


def get_order(call: Call) -> Response:
    """GET /orders/{id}."""
    return ok(find_order(call))


def find_by_ext_ref(call: Call) -> Response:
    """GET /orders/findbyextref/{extRef}: by the order's external id or number."""
    ref = call.path["extRef"]
    for order in call.state.orders.values():
        if ref in (order.get("Id"), order.get("OrderNumber")):
            return ok(order)
    raise not_found("Order")


def find_by_partner(call: Call) -> Response:
    """GET /orders/find/{id}/{partner}: by external id and the partner (platform)."""
    ext_id, partner = call.path["id"], call.path["partner"].casefold()
    for order in call.state.orders.values():
        if order.get("Id") == ext_id and order["Seller"].get("Platform", "").casefold() == partner:
            return ok(
                {
                    "Id": order["BillBeeOrderId"],
                    "ExternalId": order["Id"],
                    "CreatedAt": order["CreatedAt"],
                    "OrderStateId": order["State"],
                    "OrderStateText": ORDER_STATES[order["State"]],
                    "TotalGross": order["TotalCost"],
                    "ShopName": order["Seller"].get("BillbeeShopName", ""),
                    "HasInvoice": "InvoiceNumber" in order,
                    "CanCreateAutoInvoice": call.account.invoice_creation_allowed,
                }
            )
    raise not_found("Order")


def _store_order(call: Call, data: Any, shop_id: int | None) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise invalid("Each order must be a JSON object.")
    order = make_order(call.state, data, call.now, shop_id)
    call.state.orders[order["BillBeeOrderId"]] = order
    call.state.add_event(
        EVENT_ORDER_IMPORTED, "Auftrag eingelesen", call.now, order["BillBeeOrderId"]
    )
    return order


def create_order(call: Call) -> Response:
    """POST /orders (201 with the stored order)."""
    return ok(_store_order(call, call.body_object(), call.query_int("shopId")), status=201)


def create_orders(call: Call) -> Response:
    """POST /orders/createmultiple: an array of orders; one envelope per order, in order
    (an order Billbee refuses does not stop the others)."""
    items = call.bulk_items("orders.create_multiple", call.body(), "The body")
    results = []
    for item in items:
        try:
            results.append(body(_store_order(call, item, None)))
        except SandboxError as exc:
            results.append(body(None, code=exc.code, message=exc.message))
    return jsonify(results)


def update_state(call: Call) -> Response:
    """PUT /orders/{id}/orderstate with ``{"NewStateId": n}``; an empty 200."""
    order = find_order(call)
    new_state = call.body_object().get("NewStateId")
    if not isinstance(new_state, int) or new_state not in ORDER_STATES:
        raise invalid(f"NewStateId must be a known order state (1-{max(ORDER_STATES)}).")
    order["State"] = new_state
    stamp = {3: "PayedAt", 4: "ShippedAt", 2: "ConfirmedAt"}.get(new_state)
    if stamp:
        order[stamp] = iso(call.now)
    order["History"].append(
        history(call.now, "Status geändert", f"Neuer Status: {ORDER_STATES[new_state]}", 2)
    )
    touch(order, call.now)
    call.state.add_event(EVENT_STATE_CHANGED, "Status geändert", call.now, order["BillBeeOrderId"])
    call.on_state_change(order)
    return empty()


def add_shipment(call: Call) -> Response:
    """POST /orders/{id}/shipment: adds a Shipment to the order and the shipment list; an
    empty 200."""
    order = find_order(call)
    data = call.body_object()
    shipping_id = data.get("ShippingId")
    if not isinstance(shipping_id, str) or not shipping_id:
        raise invalid("ShippingId is required.")
    carrier = data.get("CarrierId")
    if carrier is not None and carrier not in SHIPPING_CARRIERS:
        raise invalid(f"CarrierId must be a shipping carrier (0-{max(SHIPPING_CARRIERS)}).")
    shipment: JSON = {
        "BillbeeId": call.state.new_id(),
        "ShippingId": shipping_id,
        "Shipper": str(data.get("Comment") or "API"),
        "Created": iso(call.now),
        "ShipmentType": int(data.get("ShipmentType") or 0),
    }
    for name in ("ShippingProviderId", "ShippingProviderProductId"):
        if isinstance(data.get(name), int):
            shipment[name] = data[name]
    if isinstance(data.get("CarrierId"), int):
        shipment["ShippingCarrier"] = data["CarrierId"]
    order["ShippingIds"].append(shipment)
    call.state.shipments.append({**shipment, "OrderId": order["BillBeeOrderId"]})
    touch(order, call.now)
    call.state.add_event(
        EVENT_SHIPMENT_ADDED, "Sendung hinzugefügt", call.now, order["BillBeeOrderId"]
    )
    return empty()


def _tags(call: Call) -> list[str]:
    return _tag_list(call.body_object().get("Tags"))


def _tag_list(tags: Any) -> list[str]:
    if not isinstance(tags, list) or not all(isinstance(t, str) and t for t in tags):
        raise invalid("Tags must be a list of non-empty strings.")
    return tags


def add_tags(call: Call) -> Response:
    """POST /orders/{id}/tags: adds tags (keeps existing ones)."""
    order = find_order(call)
    order["Tags"] = list(dict.fromkeys(order["Tags"] + _tags(call)))
    touch(order, call.now)
    return ok(None)


def add_tags_to_orders(call: Call) -> Response:
    """POST /orders/tags with ``{"OrderIds": [...], "Tags": [...]}``: adds the tags to each
    order; one envelope per order id, in order (an unknown id fails alone)."""
    data = call.body_object()
    order_ids = call.bulk_items("orders.add_tags_multiple", data.get("OrderIds"), "OrderIds")
    tags = _tag_list(data.get("Tags"))
    results = []
    for order_id in order_ids:
        order = call.state.orders.get(order_id) if isinstance(order_id, int) else None
        if order is None:
            error = not_found("Order")
            results.append(body(None, code=error.code, message=error.message))
            continue
        order["Tags"] = list(dict.fromkeys(order["Tags"] + tags))
        touch(order, call.now)
        results.append(body({"OrderId": order_id, "Tags": order["Tags"]}))
    return jsonify(results)


def add_message(call: Call) -> Response:
    """POST /orders/{id}/message with ``{IsInternal, SenderName, Text}``: written to the
    order's history (and, unless internal, to its comments)."""
    order = find_order(call)
    data = call.body_object()
    text = data.get("Text")
    if not isinstance(text, str) or not text.strip():
        raise invalid("Text is required.")
    sender = data.get("SenderName")
    if sender is not None and not isinstance(sender, str):
        raise invalid("SenderName must be text.")
    internal = data.get("IsInternal", False)
    if not isinstance(internal, bool):
        raise invalid("IsInternal must be true or false.")
    name = sender or "API"
    order["History"].append(history(call.now, "Nachricht", text, 0))
    order["History"][-1]["EmployeeName"] = name
    if not internal:
        order["Comments"].append(
            {
                "Id": call.state.new_id(),
                "Created": iso(call.now),
                "FromCustomer": False,
                "Text": text,
                "Name": name,
            }
        )
    touch(order, call.now)
    call.state.add_event(
        EVENT_ORDER_MODIFIED, "Nachricht hinzugefügt", call.now, order["BillBeeOrderId"]
    )
    return ok(None)


def set_tags(call: Call) -> Response:
    """PUT /orders/{id}/tags: replaces the tags."""
    order = find_order(call)
    order["Tags"] = list(dict.fromkeys(_tags(call)))
    touch(order, call.now)
    return ok(None)


def patch_order(call: Call) -> Response:
    """PATCH /orders/{id}: changes patchable top-level fields."""
    order = find_order(call)
    changes = call.body_object()
    unknown = sorted(set(changes) - set(PATCHABLE_ORDER_FIELDS))
    if unknown:
        raise invalid(f"These fields cannot be patched: {', '.join(unknown)}")
    order.update(changes)
    touch(order, call.now)
    return ok(order)


def patchable_fields(call: Call) -> Response:
    """GET /orders/PatchableFields."""
    return ok(list(PATCHABLE_ORDER_FIELDS))


def handlers() -> dict[str, Handler]:
    """The order operations this module implements."""
    return {
        "orders.list": list_orders,
        "orders.get": get_order,
        "orders.find_by_ext_ref": find_by_ext_ref,
        "orders.find_by_partner": find_by_partner,
        "orders.create": create_order,
        "orders.create_multiple": create_orders,
        "orders.add_tags_multiple": add_tags_to_orders,
        "orders.add_message": add_message,
        "orders.update_state": update_state,
        "orders.add_shipment": add_shipment,
        "orders.add_tags": add_tags,
        "orders.set_tags": set_tags,
        "orders.patch": patch_order,
        "orders.patchable_fields": patchable_fields,
    }
