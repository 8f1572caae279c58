"""Creating shipments: a bare shipment, or a labelled shipment for an order; one or many."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Response, jsonify

from billhive.billbee.enums import SHIPPING_CARRIERS
from billhive.sandbox.envelope import SandboxError, body, invalid, not_found, ok
from billhive.sandbox.records import EVENT_SHIPMENT_ADDED, history, touch
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.routes.documents import FAKE_PDF
from billhive.sandbox.routes.misc import SHIPPING_PROVIDERS
from billhive.sandbox.state import JSON, iso, iso_local

TRACKING_URL = "https://sandbox.billhive.test/track/{}"


def _tracking_id(call: Call) -> str:
    return f"00340434{call.state.new_id() % 10**10:010d}"


def _shipment(call: Call, data: Any) -> JSON:
    """Record one POST /shipment/shipment body; its answer's Data."""
    if not isinstance(data, dict):
        raise invalid("Each shipment must be a JSON object.")
    provider = data.get("ProviderName")
    known = {p["name"]: p for p in SHIPPING_PROVIDERS}
    if provider not in known:
        raise invalid(f"ProviderName must be one of: {', '.join(sorted(known))}.")
    if not isinstance(data.get("ReceiverAddress"), dict):
        raise invalid("ReceiverAddress is required.")
    carrier = data.get("shippingCarrier")
    if carrier is not None and carrier not in SHIPPING_CARRIERS:
        raise invalid(f"shippingCarrier must be a shipping carrier (0-{max(SHIPPING_CARRIERS)}).")
    shipping_id = _tracking_id(call)
    call.state.shipments.append(
        {
            "BillbeeId": call.state.new_id(),
            "ShippingId": shipping_id,
            "Shipper": provider,
            "Created": iso(call.now),
            "TrackingUrl": TRACKING_URL.format(shipping_id),
            "ShippingProviderId": known[provider]["id"],
            "ShipmentType": 0,
        }
    )
    return {
        "ShippingId": shipping_id,
        "TrackingUrl": TRACKING_URL.format(shipping_id),
        "LabelDataPdf": FAKE_PDF,
    }


def create_shipment(call: Call) -> Response:
    """POST /shipment/shipment: a shipment with a label, not tied to an order."""
    return ok(_shipment(call, call.body_object()))


def _labelled(call: Call, data: Any) -> JSON:
    """Label one order's parcel (a POST /shipment/shipwithlabel body); its answer's Data."""
    if not isinstance(data, dict):
        raise invalid("Each shipment must be a JSON object.")
    order_id = data.get("OrderId")
    order = call.state.orders.get(order_id) if isinstance(order_id, int) else None
    if order is None:
        raise not_found("Order")
    provider = next((p for p in SHIPPING_PROVIDERS if p["id"] == data.get("ProviderId")), None)
    if provider is None:
        raise invalid("ProviderId must name a provider of GET /shipment/shippingproviders.")
    if data.get("ProductId") not in {p["id"] for p in provider["products"]}:
        raise invalid("ProductId must name a product of the chosen provider.")
    shipping_id = _tracking_id(call)
    shipment: JSON = {
        "BillbeeId": call.state.new_id(),
        "ShippingId": shipping_id,
        "Shipper": provider["name"],
        "Created": iso(call.now),
        "TrackingUrl": TRACKING_URL.format(shipping_id),
        "ShippingProviderId": provider["id"],
        "ShippingProviderProductId": data["ProductId"],
        "ShipmentType": 0,
    }
    order["ShippingIds"].append(shipment)
    call.state.shipments.append({**shipment, "OrderId": order["BillBeeOrderId"]})
    if data.get("ChangeStateToSend"):
        order["State"] = 4
        order["ShippedAt"] = iso(call.now)
        order["History"].append(history(call.now, "Status geändert", "Neuer Status: Versendet", 2))
    touch(order, call.now)
    call.state.add_event(
        EVENT_SHIPMENT_ADDED, "Sendung hinzugefügt", call.now, order["BillBeeOrderId"]
    )
    return {
        "OrderId": order["BillBeeOrderId"],
        "OrderReference": order["OrderNumber"],
        "ShippingId": shipping_id,
        "TrackingUrl": shipment["TrackingUrl"],
        "LabelDataPdf": FAKE_PDF,
        "Carrier": provider["name"],
        "ShippingDate": iso_local(call.now, milliseconds=False),
    }


def ship_with_label(call: Call) -> Response:
    """POST /shipment/shipwithlabel: labels an order's parcel and records the shipment."""
    return ok(_labelled(call, call.body_object()))


def _each(call: Call, operation: str, make: Callable[[Call, Any], JSON]) -> Response:
    """A bulk answer: one envelope per item of the body's array, in order; an item Billbee
    refuses fails alone (as in updatestockmultiple)."""
    results = []
    for item in call.bulk_items(operation, call.body(), "The body"):
        try:
            results.append(body(make(call, item)))
        except SandboxError as exc:
            results.append(body(None, code=exc.code, message=exc.message))
    return jsonify(results)


def create_shipments(call: Call) -> Response:
    """POST /shipment/shipmentmultiple: an array of POST /shipment/shipment bodies."""
    return _each(call, "shipments.create_multiple", _shipment)


def ship_with_labels(call: Call) -> Response:
    """POST /shipment/shipwithlabelmultiple: an array of POST /shipment/shipwithlabel
    bodies."""
    return _each(call, "shipments.ship_with_label_multiple", _labelled)


def handlers() -> dict[str, Handler]:
    """The shipment-creating operations this module implements."""
    return {
        "shipments.create": create_shipment,
        "shipments.ship_with_label": ship_with_label,
        "shipments.create_multiple": create_shipments,
        "shipments.ship_with_label_multiple": ship_with_labels,
    }
