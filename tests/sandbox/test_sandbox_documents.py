"""Invoices and delivery notes, refused unless the account allows invoice creation."""

from __future__ import annotations

import httpx
from support.sandbox import NO_INVOICES, Sandbox, data_of


def _order_id(api: httpx.Client, state: int = 3) -> int:
    order_id: int = data_of(api.get("/orders", params={"orderStateId": state}))[0]["BillBeeOrderId"]
    return order_id


def test_create_invoice_numbers_the_order(api: httpx.Client) -> None:
    order_id = _order_id(api)
    invoice = data_of(api.post(f"/orders/CreateInvoice/{order_id}"))
    order = data_of(api.get(f"/orders/{order_id}"))
    assert invoice["InvoiceNumber"] == f"{order['InvoiceNumberPrefix']}{order['InvoiceNumber']:04d}"


def test_create_invoice_twice_returns_the_same_number(api: httpx.Client) -> None:
    order_id = _order_id(api)
    first = data_of(api.post(f"/orders/CreateInvoice/{order_id}"))
    assert (
        data_of(api.post(f"/orders/CreateInvoice/{order_id}"))["InvoiceNumber"]
        == first["InvoiceNumber"]
    )


def test_create_invoice_includes_the_pdf_only_when_asked(api: httpx.Client) -> None:
    order_id = _order_id(api)
    assert "PDFData" not in data_of(api.post(f"/orders/CreateInvoice/{order_id}"))
    with_pdf = data_of(
        api.post(f"/orders/CreateInvoice/{order_id}", params={"includeInvoicePdf": "true"})
    )
    assert with_pdf["PDFData"]


def test_invoice_creation_is_refused_when_the_account_does_not_allow_it(sandbox: Sandbox) -> None:
    api = sandbox.client(NO_INVOICES)
    response = api.post(f"/orders/CreateInvoice/{_order_id(api)}")
    assert response.json()["ErrorCode"] == 4  # CantCreateInvoice


def test_delivery_notes_are_refused_when_the_account_does_not_allow_invoices(
    sandbox: Sandbox,
) -> None:
    api = sandbox.client(NO_INVOICES)
    response = api.post(f"/orders/CreateDeliveryNote/{_order_id(api)}")
    assert response.json()["ErrorCode"] == 18  # CantCreateDeliveryNote


def test_an_invoice_for_a_canceled_order_is_refused_with_order_canceled(api: httpx.Client) -> None:
    assert api.post(f"/orders/CreateInvoice/{_order_id(api, state=8)}").json()["ErrorCode"] == 5


def test_create_delivery_note(api: httpx.Client) -> None:
    note = data_of(
        api.post(f"/orders/CreateDeliveryNote/{_order_id(api)}", params={"includePdf": "true"})
    )
    assert note["DeliveryNoteNumber"] and note["PDFData"]


def test_invoice_list_holds_invoiced_orders_with_positions(api: httpx.Client) -> None:
    order_id = _order_id(api)
    api.post(f"/orders/CreateInvoice/{order_id}")
    invoices = data_of(api.get("/orders/invoices", params={"includePositions": "true"}))
    assert [i["BillbeeId"] for i in invoices] == [order_id]
    assert invoices[0]["Positions"]


def test_invoice_list_filters_by_invoice_date(api: httpx.Client) -> None:
    api.post(f"/orders/CreateInvoice/{_order_id(api)}")
    assert data_of(api.get("/orders/invoices", params={"maxInvoiceDate": "2020-01-01"})) == []
