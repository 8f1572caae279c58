"""Enums, events and shipments (lists and lookups)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from billhive.sandbox.envelope import ok, paged
from billhive.sandbox.records import ORDER_STATES
from billhive.sandbox.routes.common import Call, Handler, in_range

PAYMENT_TYPES = {
    1: "Überweisung",
    2: "Nachnahme",
    3: "PayPal",
    4: "Barzahlung",
    6: "Gutschein",
    19: "Sofortüberweisung",
    20: "Moneybookers",
    21: "Amazon Payments",
    22: "Rechnung",
    23: "Kreditkarte",
    24: "Lastschrift",
}
SHIPMENT_TYPES = {0: "Shipment", 1: "Retoure"}
SHIPPING_CARRIERS = {
    0: "Andere",
    1: "Selbstabholung",
    2: "DHL",
    3: "DPD",
    4: "Deutsche Post",
    5: "Hermes",
    6: "GLS",
    7: "UPS",
}
SHIPPING_PROVIDERS: list[dict[str, Any]] = [
    {
        "id": 1,
        "name": "DHL",
        "products": [{"id": 1, "displayName": "DHL Paket", "productName": "V01PAK"}],
    },
    {
        "id": 2,
        "name": "DPD",
        "products": [{"id": 2, "displayName": "DPD Classic", "productName": "CL"}],
    },
]


def _enum(values: dict[int, str]) -> Response:
    # The SDKs read these as a plain list of {Id, Name} (the spec leaves them untyped).
    return jsonify([{"Id": key, "Name": name} for key, name in values.items()])


def order_states(call: Call) -> Response:
    """GET /enums/orderstates."""
    return _enum(ORDER_STATES)


def payment_types(call: Call) -> Response:
    """GET /enums/paymenttypes."""
    return _enum(PAYMENT_TYPES)


def shipment_types(call: Call) -> Response:
    """GET /enums/shipmenttypes."""
    return _enum(SHIPMENT_TYPES)


def shipping_carriers_enum(call: Call) -> Response:
    """GET /enums/shippingcarriers."""
    return _enum(SHIPPING_CARRIERS)


def list_events(call: Call) -> Response:
    """GET /events filtered by date, type and order."""
    page, size = call.paging()
    low, high = call.query_date("minDate"), call.query_date("maxDate")
    types = call.query_ints("typeId")
    order_id = call.query_int("orderId")
    rows = [
        e
        for e in call.state.events
        if in_range(e["Created"], low, high)
        and (not types or e["TypeId"] in types)
        and (order_id is None or e.get("OrderId") == order_id)
    ]
    return paged(rows, page, size)


def list_shipments(call: Call) -> Response:
    """GET /shipment/shipments."""
    page, size = call.paging()
    low, high = call.query_date("createdAtMin"), call.query_date("createdAtMax")
    order_id = call.query_int("orderId")
    minimum = call.query_int("minimumShipmentId") or 0
    provider = call.query_int("shippingProviderId")
    rows = [
        s
        for s in call.state.shipments
        if in_range(s["Created"], low, high)
        and s["BillbeeId"] >= minimum
        and (order_id is None or s.get("OrderId") == order_id)
        and (provider is None or s.get("ShippingProviderId") == provider)
    ]
    return paged(rows, page, size)


def ping(call: Call) -> Response:
    """GET /shipment/ping."""
    return ok("pong")


def shipping_providers(call: Call) -> Response:
    """GET /shipment/shippingproviders (shape of the SDK fixture)."""
    return ok(SHIPPING_PROVIDERS)


def shipping_carriers(call: Call) -> Response:
    """GET /shipment/shippingcarriers."""
    return ok([{"Id": key, "Name": name} for key, name in SHIPPING_CARRIERS.items()])


def handlers() -> dict[str, Handler]:
    """The enum, event and shipment operations this module implements."""
    return {
        "enums.order_states": order_states,
        "enums.payment_types": payment_types,
        "enums.shipment_types": shipment_types,
        "enums.shipping_carriers": shipping_carriers_enum,
        "events.list": list_events,
        "shipments.list": list_shipments,
        "shipments.ping": ping,
        "shipments.shipping_providers": shipping_providers,
        "shipments.shipping_carriers": shipping_carriers,
    }
