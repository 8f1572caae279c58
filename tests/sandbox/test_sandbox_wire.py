"""The sandbox reads requests and writes answers as Billbee does on the wire, judged by the
official SDKs: query forms, booleans, dates, enum ids and names, error bodies."""

from __future__ import annotations

import httpx
import pytest
from support.sandbox import bare, data_of

from billhive.billbee.enums import ORDER_STATES, PAYMENT_TYPES, SHIPPING_CARRIERS


def _states(api: httpx.Client, query: str) -> set[int]:
    return {o["State"] for o in data_of(api.get(f"/orders?pageSize=250&{query}"))}


@pytest.mark.parametrize(
    "query",
    [
        "orderStateId[0]=3&orderStateId[1]=4",  # both SDKs
        "orderStateId%5B0%5D=3&orderStateId%5B1%5D=4",  # Guzzle's RFC 3986 encoding
        "orderStateId=3&orderStateId=4",  # the spec's explode: true
        "orderStateId[]=3&orderStateId[]=4",
        "OrderStateId[0]=3&orderstateid[1]=4",  # ASP.NET matches names case-insensitively
    ],
)
def test_array_parameters_are_read_in_every_form_clients_send(
    api: httpx.Client, query: str
) -> None:
    assert _states(api, query) == {3, 4}


def test_indexed_items_are_read_in_index_order() -> None:
    from werkzeug.datastructures import MultiDict

    from billhive.billbee.operations import get_operation
    from billhive.sandbox.query import normalize_query

    sent = MultiDict([("tag[1]", "B"), ("TAG[0]", "A"), ("page", "2"), ("tag[2]", "C")])
    normalized = normalize_query(sent, get_operation("orders.list"))
    assert normalized.getlist("tag") == ["A", "B", "C"]
    assert normalized.get("page") == "2"


@pytest.mark.parametrize(("value", "excluded"), [("True", True), ("False", False)])
def test_booleans_are_read_as_the_net_sdk_writes_them(
    api: httpx.Client, value: str, excluded: bool
) -> None:
    orders = data_of(api.get(f"/orders?tag[0]=Stammkunde&excludeTags={value}&pageSize=250"))
    assert orders and all(("Stammkunde" in o["Tags"]) is not excluded for o in orders)


def test_a_boolean_billbee_cannot_read_is_refused(api: httpx.Client) -> None:
    response = api.get("/orders", params={"excludeTags": "maybe"})
    assert response.status_code == 400
    assert "excludeTags" in response.json()["ErrorMessage"]


@pytest.mark.parametrize(
    "value",
    [
        "2025-10-28 00:00",  # billbee-csharp-sdk: yyyy-MM-dd HH:mm
        "2025-10-28T00:00:00+00:00",  # billbee-php-sdk: format('c')
        "2025-10-28T00:00:00Z",
        "2025-10-28",
    ],
)
def test_dates_are_read_in_every_form_the_sdks_send(api: httpx.Client, value: str) -> None:
    orders = data_of(api.get("/orders", params={"minOrderDate": value, "pageSize": 250}))
    assert orders and all(o["CreatedAt"] >= "2025-10-28" for o in orders)


def test_an_offset_whose_plus_arrived_as_a_space_is_still_read(api: httpx.Client) -> None:
    orders = data_of(api.get("/orders?minOrderDate=2025-10-28T00:00:00+00:00&pageSize=250"))
    assert orders and all(o["CreatedAt"] >= "2025-10-28" for o in orders)


def test_order_dates_carry_an_offset_and_event_dates_none(api: httpx.Client) -> None:
    order = data_of(api.get("/orders", params={"pageSize": 1}))[0]
    event = data_of(api.get("/events", params={"pageSize": 1}))[0]
    assert order["CreatedAt"].endswith("+00:00")
    assert "+" not in event["Created"] and len(event["Created"].split(".")[-1]) == 3


@pytest.mark.parametrize(
    ("path", "table"),
    [
        ("/enums/orderstates", ORDER_STATES),
        ("/enums/paymenttypes", PAYMENT_TYPES),
        ("/enums/shippingcarriers", SHIPPING_CARRIERS),
    ],
)
def test_enums_carry_billbees_published_ids_and_names(
    api: httpx.Client, path: str, table: dict[int, str]
) -> None:
    assert {e["Id"]: e["Name"] for e in bare(api.get(path))} == table


def test_the_sdk_names_are_used_for_enum_entries(api: httpx.Client) -> None:
    carriers = {e["Id"]: e["Name"] for e in bare(api.get("/enums/shippingcarriers"))}
    payments = {e["Id"]: e["Name"] for e in bare(api.get("/enums/paymenttypes"))}
    assert (carriers[2], carriers[4], carriers[19]) == ("dhl", "dpd", "ShippingCarrier19")
    assert (payments[3], payments[26]) == ("PayPal", "Rechnung")


def test_events_carry_billbees_event_type_ids(api: httpx.Client) -> None:
    types = {e["TypeId"] for e in data_of(api.get("/events", params={"pageSize": 250}))}
    assert 0 in types  # OrderImported
    assert 18 in types  # ShipmentCreated


def test_orders_carry_their_web_url(api: httpx.Client) -> None:
    order = data_of(api.get("/orders", params={"pageSize": 1}))[0]
    assert order["WebUrl"].endswith(f"/orders/{order['BillBeeOrderId']}")


def test_stock_entries_say_whether_their_value_is_calculated(api: httpx.Client) -> None:
    product = data_of(api.get("/products", params={"pageSize": 1}))[0]
    assert product["Stocks"][0]["StockCurrentIsCalculated"] is False


def test_patching_an_address_with_a_field_it_lacks_is_refused(api: httpx.Client) -> None:
    address = data_of(api.get("/customer-addresses"))[0]
    response = api.patch(f"/customers/addresses/{address['Id']}", json={"Colour": "red"})
    assert response.status_code == 400
    assert "Colour" in response.json()["ErrorMessage"]


def test_patching_an_address_changes_only_the_given_fields(api: httpx.Client) -> None:
    address = data_of(api.get("/customer-addresses"))[0]
    patched = data_of(api.patch(f"/customers/addresses/{address['Id']}", json={"Zip": "12345"}))
    assert patched["Zip"] == "12345" and patched["City"] == address["City"]


@pytest.mark.parametrize(("carrier", "status"), [(19, 200), (20, 200), (21, 400)])
def test_shipping_carriers_run_to_20(api: httpx.Client, carrier: int, status: int) -> None:
    order_id = data_of(api.get("/orders", params={"pageSize": 1}))[0]["BillBeeOrderId"]
    body = {"ShippingId": f"T-{carrier}", "CarrierId": carrier}
    assert api.post(f"/orders/{order_id}/shipment", json=body).status_code == status
