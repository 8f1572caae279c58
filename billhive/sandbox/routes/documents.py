"""Invoices and delivery notes (refused unless the account allows invoice creation)."""

from __future__ import annotations

import base64

from flask import Response

from billhive.sandbox.envelope import ErrorCode, SandboxError, ok, paged
from billhive.sandbox.records import EVENT_DELIVERY_NOTE_CREATED, EVENT_INVOICE_CREATED, touch
from billhive.sandbox.routes.common import Call, Handler, in_range
from billhive.sandbox.routes.orders import find_order
from billhive.sandbox.state import JSON, iso, iso_local, parse_date

#: A stand-in document: enough bytes to be a PDF header, small enough to stay out of the way.
FAKE_PDF = base64.b64encode(b"%PDF-1.4\n% billhive sandbox document\n%%EOF\n").decode()
DOWNLOAD_BASE = "https://objectstore.billbee.io/sandbox"


def _check_allowed(call: Call, order: JSON, refusal: ErrorCode) -> None:
    """Billbee refuses documents when the merchant has not allowed it or the order is gone."""
    if not call.account.invoice_creation_allowed:
        raise SandboxError(
            200, refusal, "Invoice creation via the API is not allowed for this account."
        )
    if order["State"] == 8:
        raise SandboxError(200, ErrorCode.ORDER_CANCELED, "The order is canceled.")
    if order["State"] == 6:
        raise SandboxError(200, ErrorCode.ORDER_DELETED, "The order is deleted.")


def _totals(order: JSON) -> tuple[float, float]:
    gross = float(order["TotalCost"])
    return gross, round(gross / (1 + float(order.get("TaxRate1", 19.0)) / 100), 2)


def create_invoice(call: Call) -> Response:
    """POST /orders/CreateInvoice/{id}: numbers the order's invoice once."""
    order = find_order(call)
    _check_allowed(call, order, ErrorCode.CANT_CREATE_INVOICE)
    if "InvoiceNumber" not in order:
        call.state.invoice_counter += 1
        order["InvoiceNumberPrefix"] = f"RN-{call.now.year}-"
        order["InvoiceNumber"] = call.state.invoice_counter
        order["InvoiceDate"] = iso(call.now)
        touch(order, call.now)
        call.state.add_event(
            EVENT_INVOICE_CREATED, "Rechnung erstellt", call.now, order["BillBeeOrderId"]
        )
    gross, net = _totals(order)
    number = f"{order['InvoiceNumberPrefix']}{order['InvoiceNumber']:04d}"
    data: JSON = {
        "OrderNumber": order["OrderNumber"],
        "InvoiceNumber": number,
        # Without an offset, with milliseconds, as the SDK fixture's invoice.
        "InvoiceDate": iso_local(parse_date(order["InvoiceDate"])),
        "TotalGross": gross,
        "TotalNet": net,
        "PdfDownloadUrl": f"{DOWNLOAD_BASE}/invoice/{order['BillBeeOrderId']}.pdf",
    }
    if call.query_bool("includeInvoicePdf"):
        data["PDFData"] = FAKE_PDF
    return ok(data)


def create_delivery_note(call: Call) -> Response:
    """POST /orders/CreateDeliveryNote/{id}."""
    order = find_order(call)
    _check_allowed(call, order, ErrorCode.CANT_CREATE_DELIVERY_NOTE)
    call.state.add_event(
        EVENT_DELIVERY_NOTE_CREATED, "Lieferschein erstellt", call.now, order["BillBeeOrderId"]
    )
    data: JSON = {
        "OrderNumber": order["OrderNumber"],
        "DeliveryNoteNumber": str(order["BillBeeOrderId"] % 100_000),
        "DeliveryNoteDate": iso_local(call.now, milliseconds=False),
        "PdfDownloadUrl": f"{DOWNLOAD_BASE}/deliverynote/{order['BillBeeOrderId']}.pdf",
    }
    if call.query_bool("includePdf"):
        data["PDFData"] = FAKE_PDF
    return ok(data)


def _invoice_row(order: JSON, with_positions: bool) -> JSON:
    gross, net = _totals(order)
    address = order.get("InvoiceAddress", {})
    row: JSON = {
        "BillbeeId": order["BillBeeOrderId"],
        "InvoiceNumber": f"{order['InvoiceNumberPrefix']}{order['InvoiceNumber']:04d}",
        "Type": "invoice",
        "FirstName": address.get("FirstName", ""),
        "LastName": address.get("LastName", ""),
        "Email": address.get("Email", ""),
        "InvoiceDate": iso_local(parse_date(order["InvoiceDate"])),
        "TotalNet": net,
        "TotalGross": gross,
        "Currency": order["Currency"],
        "PaymentTypeId": order["PaymentMethod"],
        "OrderNumber": order["OrderNumber"],
        "ShopName": order["Seller"].get("BillbeeShopName", ""),
        "VatMode": order["VatMode"],
        "ShippingCountry": order.get("ShippingAddress", {}).get("CountryISO2", ""),
    }
    if "PayedAt" in order:
        row["PayDate"] = iso_local(parse_date(order["PayedAt"]))
    if with_positions:
        row["Positions"] = [
            {
                "BillbeeId": item["BillbeeId"],
                "Position": index,
                "Amount": item["Quantity"],
                "TotalGrossValue": item["TotalPrice"],
                "TotalVatAmount": item["TaxAmount"],
                "Sku": item["InvoiceSKU"],
                "Title": item["Product"].get("Title", ""),
                "VatRate": order.get("TaxRate1", 19.0),
            }
            for index, item in enumerate(order["OrderItems"], start=1)
        ]
    return row


def list_invoices(call: Call) -> Response:
    """GET /orders/invoices: invoiced orders filtered by invoice and pay dates."""
    page, size = call.paging()
    low, high = call.query_date("minInvoiceDate"), call.query_date("maxInvoiceDate")
    pay_low, pay_high = call.query_date("minPayDate"), call.query_date("maxPayDate")
    states = call.query_ints("orderStateId")
    rows = [
        _invoice_row(order, call.query_bool("includePositions"))
        for _, order in sorted(call.state.orders.items())
        if "InvoiceNumber" in order
        and in_range(order["InvoiceDate"], low, high)
        and in_range(order.get("PayedAt"), pay_low, pay_high)
        and (not states or order["State"] in states)
    ]
    return paged(rows, page, size)


def handlers() -> dict[str, Handler]:
    """The document operations this module implements."""
    return {
        "orders.create_invoice": create_invoice,
        "orders.create_delivery_note": create_delivery_note,
        "orders.list_invoices": list_invoices,
    }
