"""The operations newer than the 2023 description, served with state."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest
from support.sandbox import MERCHANT, Sandbox, bare, data_of

from billhive.billbee.limits import BULK_MAX_ITEMS
from billhive.sandbox.records import SHOP_ID_BASE


def _order_ids(api: httpx.Client, count: int) -> list[int]:
    orders = data_of(api.get("/orders", params={"pageSize": count}))
    return [o["BillBeeOrderId"] for o in orders]


# -- shop accounts ----------------------------------------------------------------------


def test_shop_accounts_list_the_accounts_own_shop(api: httpx.Client) -> None:
    response = api.get("/shopaccounts")
    shops = data_of(response)
    assert shops[0]["Id"] == SHOP_ID_BASE + MERCHANT["id"]
    assert response.json()["Paging"]["TotalRows"] == len(shops)


def test_an_order_for_another_api_account_adds_its_shop(api: httpx.Client) -> None:
    other = SHOP_ID_BASE + 99
    created = data_of(api.post("/orders", json={"OrderNumber": "X-1", "ApiAccountId": other}))
    assert created["ApiAccountId"] == other and created["Seller"]["BillbeeShopId"] == other
    assert other in {s["Id"] for s in data_of(api.get("/shopaccounts"))}


def test_the_deprecated_shop_id_query_still_names_the_shop(api: httpx.Client) -> None:
    created = data_of(api.post("/orders", params={"shopId": 77}, json={"OrderNumber": "X-2"}))
    assert created["Seller"]["BillbeeShopId"] == 77


def test_api_account_id_wins_over_the_deprecated_shop_id(api: httpx.Client) -> None:
    created = data_of(
        api.post("/orders", params={"shopId": 77}, json={"OrderNumber": "X-3", "ApiAccountId": 88})
    )
    assert created["Seller"]["BillbeeShopId"] == 88


@pytest.mark.parametrize("path", ["/enums/shopaccounttype", "/enums/accountsyncstate"])
def test_the_account_enums_are_bare_lists(api: httpx.Client, path: str) -> None:
    entries = bare(api.get(path))
    assert entries and all(set(e) == {"Id", "Name"} for e in entries)


# -- order messages ---------------------------------------------------------------------


def test_a_message_is_written_to_the_orders_history_and_comments(api: httpx.Client) -> None:
    order_id = _order_ids(api, 1)[0]
    body = {"IsInternal": False, "SenderName": "Lager", "Text": "Paket verlässt heute das Haus"}
    data_of(api.post(f"/orders/{order_id}/message", json=body))
    order = data_of(api.get(f"/orders/{order_id}"))
    assert order["History"][-1]["Text"] == body["Text"]
    assert order["Comments"][-1]["Name"] == "Lager"


def test_an_internal_message_stays_out_of_the_comments(api: httpx.Client) -> None:
    order_id = _order_ids(api, 1)[0]
    before = len(data_of(api.get(f"/orders/{order_id}"))["Comments"])
    data_of(api.post(f"/orders/{order_id}/message", json={"IsInternal": True, "Text": "intern"}))
    order = data_of(api.get(f"/orders/{order_id}"))
    assert len(order["Comments"]) == before and order["History"][-1]["Text"] == "intern"


def test_a_message_without_text_is_invalid_data(api: httpx.Client) -> None:
    order_id = _order_ids(api, 1)[0]
    response = api.post(f"/orders/{order_id}/message", json={"SenderName": "x"})
    assert response.status_code == 400 and "Text" in response.json()["ErrorMessage"]


# -- bulk writes ------------------------------------------------------------------------


def test_createmultiple_answers_one_envelope_per_order_in_order(api: httpx.Client) -> None:
    existing = data_of(api.get("/orders", params={"pageSize": 1}))[0]["Id"]
    results = bare(
        api.post(
            "/orders/createmultiple",
            json=[{"OrderNumber": "B-1"}, {"Id": existing}, {"OrderNumber": "B-2"}],
        )
    )
    assert [r["ErrorCode"] for r in results] == [0, 11, 0]
    assert results[1]["Data"] is None and existing in results[1]["ErrorMessage"]
    for result in (results[0], results[2]):
        stored = data_of(api.get(f"/orders/{result['Data']['BillBeeOrderId']}"))
        assert stored["OrderNumber"] == result["Data"]["OrderNumber"]


def test_orders_tags_adds_the_tags_to_every_order_and_fails_unknown_ids_alone(
    api: httpx.Client,
) -> None:
    first, second = _order_ids(api, 2)
    results = bare(
        api.post("/orders/tags", json={"OrderIds": [first, 12345, second], "Tags": ["Eilig"]})
    )
    assert [r["ErrorCode"] for r in results] == [0, 2, 0]
    for order_id in (first, second):
        assert "Eilig" in data_of(api.get(f"/orders/{order_id}"))["Tags"]


def test_shipmentmultiple_records_each_shipment(api: httpx.Client) -> None:
    before = len(data_of(api.get("/shipment/shipments", params={"pageSize": 250})))
    body = [
        {"ProviderName": "DHL", "ReceiverAddress": {"City": "Bonn"}},
        {"ProviderName": "Brieftaube", "ReceiverAddress": {"City": "Ulm"}},
        {"ProviderName": "DPD", "ReceiverAddress": {"City": "Kiel"}, "shippingCarrier": 20},
    ]
    results = bare(api.post("/shipment/shipmentmultiple", json=body))
    assert [r["ErrorCode"] for r in results] == [0, 11, 0]
    after = data_of(api.get("/shipment/shipments", params={"pageSize": 250}))
    assert len(after) == before + 2


def test_shipwithlabelmultiple_labels_each_order(api: httpx.Client) -> None:
    first, second = _order_ids(api, 2)
    body = [
        {"OrderId": first, "ProviderId": 1, "ProductId": 1, "ChangeStateToSend": True},
        {"OrderId": second, "ProviderId": 2, "ProductId": 2},
    ]
    results = bare(api.post("/shipment/shipwithlabelmultiple", json=body))
    assert [r["Data"]["OrderId"] for r in results] == [first, second]
    assert data_of(api.get(f"/orders/{first}"))["State"] == 4


@pytest.mark.parametrize(
    ("path", "make"),
    [
        ("/orders/createmultiple", lambda n: [{"OrderNumber": f"C-{i}"} for i in range(n)]),
        ("/orders/tags", lambda n: {"OrderIds": list(range(1, n + 1)), "Tags": ["x"]}),
        ("/products/stockmultiple", lambda n: {"Skus": [f"S-{i}" for i in range(n)]}),
        (
            "/shipment/shipmentmultiple",
            lambda n: [{"ProviderName": "DHL", "ReceiverAddress": {}} for _ in range(n)],
        ),
        (
            "/shipment/shipwithlabelmultiple",
            lambda n: [{"OrderId": 1, "ProviderId": 1, "ProductId": 1} for _ in range(n)],
        ),
        ("/products/updatestockmultiple", lambda n: [{"Sku": "x", "NewQuantity": 1}] * n),
    ],
)
def test_a_bulk_call_over_its_cap_is_refused_whole(
    api: httpx.Client, path: str, make: Callable[[int], Any]
) -> None:
    name = {
        "/orders/createmultiple": "orders.create_multiple",
        "/orders/tags": "orders.add_tags_multiple",
        "/products/stockmultiple": "products.stock_multiple",
        "/shipment/shipmentmultiple": "shipments.create_multiple",
        "/shipment/shipwithlabelmultiple": "shipments.ship_with_label_multiple",
        "/products/updatestockmultiple": "products.update_stock_multiple",
    }[path]
    response = api.post(path, json=make(BULK_MAX_ITEMS[name] + 1))
    assert response.status_code == 400
    assert f"at most {BULK_MAX_ITEMS[name]}" in response.json()["ErrorMessage"]


def test_bulk_caps_can_be_changed_when_the_sandbox_is_built(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(throttle=False, bulk_caps={"orders.create_multiple": 1}).client()
    response = api.post("/orders/createmultiple", json=[{"OrderNumber": "1"}, {"OrderNumber": "2"}])
    assert response.status_code == 400


# -- stock of many articles -------------------------------------------------------------


def test_stockmultiple_pages_through_every_articles_stock(api: httpx.Client) -> None:
    response = api.post("/products/stockmultiple", params={"pageSize": 3})
    rows = data_of(response)
    assert len(rows) == 3 and response.json()["Paging"]["TotalRows"] == 8
    assert all(set(r) == {"Id", "SKU", "Stocks"} for r in rows)


def test_stockmultiple_reads_the_skus_asked_for_in_their_order(api: httpx.Client) -> None:
    skus = [p["SKU"] for p in data_of(api.get("/products", params={"pageSize": 3}))]
    rows = data_of(api.post("/products/stockmultiple", json={"Skus": [skus[2], skus[0], "NOPE"]}))
    assert [r["SKU"] for r in rows] == [skus[2], skus[0]]


def test_stockmultiple_since_a_moment_lists_the_stock_changed_since(api: httpx.Client) -> None:
    sku = data_of(api.get("/products", params={"pageSize": 1}))[0]["SKU"]
    data_of(api.post("/products/updatestock", json={"Sku": sku, "NewQuantity": 3}))
    rows = data_of(
        api.post("/products/stockmultiple", params={"modifiedSince": "2026-01-01T00:00:00"})
    )
    assert [r["SKU"] for r in rows] == [sku]
    assert rows[0]["Stocks"][0]["StockCurrent"] == 3


# -- API usage --------------------------------------------------------------------------


def test_api_usage_counts_each_billbee_user_of_the_account(sandbox: Sandbox) -> None:
    main, packer = sandbox.client(), sandbox.client(username="packer.test")
    for _ in range(3):
        main.get("/orders")
    packer.get("/products")
    summary = bare(main.get("/apiusage"))
    counts = {row["UserName"]: row["Data"]["Count"] for row in summary["Summaries"]}
    assert counts == {MERCHANT["username"]: 4, "packer.test": 1}  # this call is billed too


def test_api_usage_detail_counts_per_endpoint(sandbox: Sandbox) -> None:
    api = sandbox.client()
    api.get("/orders")
    api.get("/orders")
    detail = bare(api.get("/apiusage/detail"))
    rows = detail["Details"][0]["Data"]
    assert {"Method": "GET", "Endpoint": "/orders", "Count": 2} in rows


def test_api_usage_of_another_month_is_empty(sandbox: Sandbox) -> None:
    api = sandbox.client()
    api.get("/orders")
    for query in ({"request.date": "2020-01-01T00:00:00"}, {"Date": "20200101"}):
        assert bare(api.get("/apiusage", params=query)) == {"Summaries": []}


def test_api_usage_counts_per_api_key(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(throttle=False, api_keys=["key-one", "key-two"])
    sandbox.client(api_key="key-two").get("/orders")
    summary = bare(sandbox.client(api_key="key-one").get("/apiusage"))
    assert summary["Summaries"][0]["Data"]["Count"] == 1


def test_a_malformed_usage_month_is_invalid_data(api: httpx.Client) -> None:
    assert api.get("/apiusage", params={"request.date": "soon"}).status_code == 400
