"""Creating shipments: bare, and with a label for an order."""

from __future__ import annotations

import httpx
from support.sandbox import data_of


def _open_order_id(api: httpx.Client) -> int:
    order_id: int = data_of(api.get("/orders", params={"orderStateId": 3}))[0]["BillBeeOrderId"]
    return order_id


def test_ship_with_label_records_the_shipment_on_the_order(api: httpx.Client) -> None:
    order_id = _open_order_id(api)
    result = data_of(
        api.post(
            "/shipment/shipwithlabel", json={"OrderId": order_id, "ProviderId": 1, "ProductId": 1}
        )
    )
    order = data_of(api.get(f"/orders/{order_id}"))
    assert order["ShippingIds"][-1]["ShippingId"] == result["ShippingId"]
    assert result["LabelDataPdf"]


def test_ship_with_label_can_mark_the_order_shipped(api: httpx.Client) -> None:
    order_id = _open_order_id(api)
    body = {"OrderId": order_id, "ProviderId": 1, "ProductId": 1, "ChangeStateToSend": True}
    data_of(api.post("/shipment/shipwithlabel", json=body))
    assert data_of(api.get(f"/orders/{order_id}"))["State"] == 4


def test_ship_with_label_refuses_a_product_of_another_provider(api: httpx.Client) -> None:
    body = {"OrderId": _open_order_id(api), "ProviderId": 1, "ProductId": 2}
    response = api.post("/shipment/shipwithlabel", json=body)
    assert response.status_code == 400
    assert "ProductId" in response.json()["ErrorMessage"]


def test_ship_with_label_for_an_unknown_order_answers_404(api: httpx.Client) -> None:
    assert (
        api.post(
            "/shipment/shipwithlabel", json={"OrderId": 1, "ProviderId": 1, "ProductId": 1}
        ).status_code
        == 404
    )


def test_create_shipment_lists_it_among_the_shipments(api: httpx.Client) -> None:
    body = {"ProviderName": "DHL", "ReceiverAddress": {"City": "Bonn", "CountryCode": "DE"}}
    created = data_of(api.post("/shipment/shipment", json=body))
    shipments = data_of(api.get("/shipment/shipments"))
    assert shipments[-1]["ShippingId"] == created["ShippingId"]


def test_create_shipment_with_an_unknown_provider_is_invalid_data(api: httpx.Client) -> None:
    response = api.post(
        "/shipment/shipment", json={"ProviderName": "Brieftaube", "ReceiverAddress": {}}
    )
    assert response.status_code == 400
