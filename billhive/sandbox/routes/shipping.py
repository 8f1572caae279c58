"""Creating shipments: a bare shipment, or a labelled shipment for an order."""

from __future__ import annotations

from flask import Response

from billhive.sandbox.envelope import invalid, not_found, ok
from billhive.sandbox.records import EVENT_SHIPMENT_ADDED, history, touch
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.routes.documents import FAKE_PDF
from billhive.sandbox.routes.misc import SHIPPING_PROVIDERS
from billhive.sandbox.state import JSON, iso

TRACKING_URL = "https://sandbox.billhive.test/track/{}"


def _tracking_id(call: Call) -> str:
    return f"00340434{call.state.new_id() % 10**10:010d}"


def create_shipment(call: Call) -> Response:
    """POST /shipment/shipment: a shipment with a label, not tied to an order."""
    data = call.body_object()
    provider = data.get("ProviderName")
    known = {p["name"]: p for p in SHIPPING_PROVIDERS}
    if provider not in known:
        raise invalid(f"ProviderName must be one of: {', '.join(sorted(known))}.")
    if not isinstance(data.get("ReceiverAddress"), dict):
        raise invalid("ReceiverAddress is required.")
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
    return ok(
        {
            "ShippingId": shipping_id,
            "TrackingUrl": TRACKING_URL.format(shipping_id),
            "LabelDataPdf": FAKE_PDF,
        }
    )


def ship_with_label(call: Call) -> Response:
    """POST /shipment/shipwithlabel: labels an order's parcel and records the shipment."""
    data = call.body_object()
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
    return ok(
        {
            "OrderId": order["BillBeeOrderId"],
            "OrderReference": order["OrderNumber"],
            "ShippingId": shipping_id,
            "TrackingUrl": shipment["TrackingUrl"],
            "LabelDataPdf": FAKE_PDF,
            "Carrier": provider["name"],
            "ShippingDate": iso(call.now),
        }
    )


def handlers() -> dict[str, Handler]:
    """The shipment-creating operations this module implements."""
    return {"shipments.create": create_shipment, "shipments.ship_with_label": ship_with_label}
