"""Orders: list, filters, paging, get, find, create, state, shipment, tags, patch."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from support.sandbox import data_of, empty_ok

from billhive.sandbox.seed import SEED_EPOCH, SEED_ORDERS


def _first_order(api: httpx.Client) -> dict[str, Any]:
    orders: list[dict[str, Any]] = data_of(api.get("/orders"))
    return orders[0]


def test_every_account_starts_with_its_seeded_orders(api: httpx.Client) -> None:
    assert api.get("/orders").json()["Paging"]["TotalRows"] == SEED_ORDERS


def test_seeded_orders_are_the_same_in_every_sandbox(
    api: httpx.Client, sandbox_factory: Any
) -> None:
    other = sandbox_factory(throttle=False).client()
    assert data_of(api.get("/orders")) == data_of(other.get("/orders"))


def test_orders_use_billbees_date_format(api: httpx.Client) -> None:
    created = _first_order(api)["CreatedAt"]
    assert created.endswith("+00:00") and len(created) == 25


def test_paging_reports_pages_and_rows(api: httpx.Client) -> None:
    paging = api.get("/orders", params={"page": 2, "pageSize": 5}).json()["Paging"]
    assert paging == {"Page": 2, "PageSize": 5, "TotalPages": 3, "TotalRows": SEED_ORDERS}


def test_the_last_page_holds_the_remaining_orders(api: httpx.Client) -> None:
    assert len(data_of(api.get("/orders", params={"page": 3, "pageSize": 5}))) == 2


def test_a_page_size_over_250_is_invalid_data(api: httpx.Client) -> None:
    response = api.get("/orders", params={"pageSize": 251})
    assert response.status_code == 400
    assert response.json()["ErrorCode"] == 11


def test_a_non_numeric_page_is_invalid_data_not_a_server_error(api: httpx.Client) -> None:
    assert api.get("/orders", params={"page": "two"}).status_code == 400


def test_orders_filter_by_state(api: httpx.Client) -> None:
    orders = data_of(api.get("/orders", params={"orderStateId": [3]}))
    assert orders and {o["State"] for o in orders} == {3}


def test_orders_filter_by_several_states_in_bracket_notation(api: httpx.Client) -> None:
    orders = data_of(api.get("/orders", params={"orderStateId[]": [3, 4]}))
    assert {o["State"] for o in orders} == {3, 4}


def test_orders_filter_by_tag(api: httpx.Client) -> None:
    orders = data_of(api.get("/orders", params={"tag": "Stammkunde"}))
    assert orders and all("Stammkunde" in o["Tags"] for o in orders)


def test_orders_filter_excluding_a_tag(api: httpx.Client) -> None:
    orders = data_of(api.get("/orders", params={"tag": "Stammkunde", "excludeTags": "true"}))
    assert orders and all("Stammkunde" not in o["Tags"] for o in orders)


def test_orders_filter_by_order_date(api: httpx.Client) -> None:
    orders = data_of(api.get("/orders", params={"minOrderDate": "2025-10-30"}))
    assert orders and all(o["CreatedAt"] >= "2025-10-30" for o in orders)
    assert len(orders) < SEED_ORDERS


def test_orders_filter_by_minimum_billbee_id(api: httpx.Client) -> None:
    third = data_of(api.get("/orders"))[2]["BillBeeOrderId"]
    orders = data_of(api.get("/orders", params={"minimumBillBeeOrderId": third}))
    assert len(orders) == SEED_ORDERS - 2


def test_orders_filter_by_last_modification(api: httpx.Client) -> None:
    order = _first_order(api)
    api.put(f"/orders/{order['BillBeeOrderId']}/orderstate", json={"NewStateId": 2})
    after_seed = (SEED_EPOCH + timedelta(days=1)).isoformat()
    orders = data_of(api.get("/orders", params={"modifiedAtMin": after_seed}))
    assert [o["BillBeeOrderId"] for o in orders] == [order["BillBeeOrderId"]]


def test_a_malformed_date_filter_is_invalid_data(api: httpx.Client) -> None:
    response = api.get("/orders", params={"minOrderDate": "yesterday"})
    assert response.status_code == 400
    assert "minOrderDate" in response.json()["ErrorMessage"]


def test_get_order_returns_one_order(api: httpx.Client) -> None:
    order = _first_order(api)
    assert data_of(api.get(f"/orders/{order['BillBeeOrderId']}")) == order


def test_get_unknown_order_answers_404_with_order_not_found(api: httpx.Client) -> None:
    response = api.get("/orders/42")
    assert response.status_code == 404
    assert response.json()["ErrorCode"] == 2


def test_find_by_external_reference(api: httpx.Client) -> None:
    order = _first_order(api)
    assert (
        data_of(api.get(f"/orders/findbyextref/{order['Id']}"))["BillBeeOrderId"]
        == order["BillBeeOrderId"]
    )


def test_find_by_partner_returns_the_short_form(api: httpx.Client) -> None:
    order = data_of(api.post("/orders", json={"Id": "EXT-77", "Seller": {"Platform": "Shopify"}}))
    found = data_of(api.get("/orders/find/EXT-77/shopify"))
    assert found["Id"] == order["BillBeeOrderId"] and found["ExternalId"] == "EXT-77"


def test_create_order_answers_201_with_the_stored_order(api: httpx.Client) -> None:
    response = api.post(
        "/orders",
        json={
            "OrderNumber": "A-1",
            "OrderItems": [{"Product": {"SKU": "BH-007-001"}, "Quantity": 2, "TotalPrice": 17.8}],
        },
    )
    order = data_of(response)
    assert response.status_code == 201
    assert order["OrderItems"][0]["Product"]["Title"] == "Bienenwachstuch M"
    assert data_of(api.get(f"/orders/{order['BillBeeOrderId']}"))["OrderNumber"] == "A-1"


def test_creating_an_order_with_a_known_external_id_is_invalid_data(api: httpx.Client) -> None:
    api.post("/orders", json={"Id": "EXT-1"})
    assert api.post("/orders", json={"Id": "EXT-1"}).json()["ErrorCode"] == 11


def test_creating_an_order_without_a_json_body_is_invalid_data(api: httpx.Client) -> None:
    response = api.post("/orders", content=b"not json")
    assert response.status_code == 400


def test_change_order_state(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    empty_ok(api.put(f"/orders/{order_id}/orderstate", json={"NewStateId": 3}))
    order = data_of(api.get(f"/orders/{order_id}"))
    assert order["State"] == 3 and "PayedAt" in order


def test_order_state_17_is_accepted(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    empty_ok(api.put(f"/orders/{order_id}/orderstate", json={"NewStateId": 17}))
    assert data_of(api.get(f"/orders/{order_id}"))["State"] == 17


def test_an_unknown_order_state_is_invalid_data(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    assert api.put(f"/orders/{order_id}/orderstate", json={"NewStateId": 99}).status_code == 400


def test_add_shipment_attaches_it_to_the_order_and_the_shipment_list(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    empty_ok(
        api.post(
            f"/orders/{order_id}/shipment", json={"ShippingId": "TRACK-1", "ShippingProviderId": 1}
        )
    )
    order = data_of(api.get(f"/orders/{order_id}"))
    shipments = data_of(api.get("/shipment/shipments", params={"orderId": order_id}))
    assert order["ShippingIds"][-1]["ShippingId"] == "TRACK-1"
    assert shipments[-1]["ShippingId"] == "TRACK-1"


def test_add_tags_keeps_existing_tags(api: httpx.Client) -> None:
    order = _first_order(api)
    data_of(api.post(f"/orders/{order['BillBeeOrderId']}/tags", json={"Tags": ["Express"]}))
    tags = data_of(api.get(f"/orders/{order['BillBeeOrderId']}"))["Tags"]
    assert tags == [*order["Tags"], "Express"]


def test_set_tags_replaces_them(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    data_of(api.put(f"/orders/{order_id}/tags", json={"Tags": ["Neu"]}))
    assert data_of(api.get(f"/orders/{order_id}"))["Tags"] == ["Neu"]


def test_tags_must_be_a_list_of_strings(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    assert api.post(f"/orders/{order_id}/tags", json={"Tags": "Neu"}).status_code == 400


def test_patch_order_changes_a_patchable_field(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    patched = data_of(api.patch(f"/orders/{order_id}", json={"SellerComment": "bitte schnell"}))
    assert patched["SellerComment"] == "bitte schnell"


def test_patch_order_refuses_fields_that_are_not_patchable(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    response = api.patch(f"/orders/{order_id}", json={"BillBeeOrderId": 1})
    assert response.status_code == 400
    assert "BillBeeOrderId" in response.json()["ErrorMessage"]


def test_state_changes_are_written_to_the_event_log(api: httpx.Client) -> None:
    order_id = _first_order(api)["BillBeeOrderId"]
    api.put(f"/orders/{order_id}/orderstate", json={"NewStateId": 2})
    events = data_of(api.get("/events", params={"orderId": order_id, "typeId": 15}))
    assert len(events) == 1 and events[0]["TypeId"] == 15  # Billbee's OrderStateChanged


def test_a_value_of_the_wrong_type_is_invalid_data_not_a_server_error(api: httpx.Client) -> None:
    response = api.post("/orders", json={"OrderItems": [{"Quantity": "many"}]})
    assert response.status_code == 400
    assert response.json()["ErrorCode"] == 11


def test_a_non_numeric_state_filter_is_invalid_data(api: httpx.Client) -> None:
    response = api.get("/orders", params={"orderStateId": "paid"})
    assert response.status_code == 400
    assert "orderStateId" in response.json()["ErrorMessage"]
