"""Enums, events and shipments (lists and lookups)."""

from __future__ import annotations

from typing import Any

from flask import Response, jsonify

from billhive.billbee.enums import (
    ORDER_STATES,
    PAYMENT_TYPES,
    SHIPMENT_TYPES,
    SHIPPING_CARRIERS,
    enum_entries,
)
from billhive.sandbox.envelope import ok, paged
from billhive.sandbox.routes.common import Call, Handler, in_range

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


def bare_enum(values: dict[int, str]) -> Response:
    """An enum as Billbee answers it: a bare list of ``{Id, Name}`` (billbee-csharp-sdk
    EnumEndPoint reads ``List<EnumEntry>``; the spec leaves these untyped), with Billbee's
    published ids and names (:mod:`billhive.billbee.enums`)."""
    return jsonify(enum_entries(values))


def order_states(call: Call) -> Response:
    """GET /enums/orderstates."""
    return bare_enum(ORDER_STATES)


def payment_types(call: Call) -> Response:
    """GET /enums/paymenttypes."""
    return bare_enum(PAYMENT_TYPES)


def shipment_types(call: Call) -> Response:
    """GET /enums/shipmenttypes."""
    return bare_enum(SHIPMENT_TYPES)


def shipping_carriers_enum(call: Call) -> Response:
    """GET /enums/shippingcarriers."""
    return bare_enum(SHIPPING_CARRIERS)


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
    """GET /shipment/shippingproviders: a bare list (both SDKs read
    ``array<ShippingProvider>`` / ``List<ShippingProvider>``; the PHP SDK wraps it into the
    response object its fixture shows)."""
    return jsonify(SHIPPING_PROVIDERS)


def shipping_carriers(call: Call) -> Response:
    """GET /shipment/shippingcarriers: a bare list of ``{Id, Name}`` (billbee-csharp-sdk
    reads ``List<ShippingCarrier>``)."""
    return jsonify(enum_entries(SHIPPING_CARRIERS))


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
