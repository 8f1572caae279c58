"""Smaller operations: layouts, storages, categories, custom fields, reserved amounts,
stock codes, search, order messages, triggered events, terms info."""

from __future__ import annotations

from typing import Any

import httpx
from support.sandbox import bare, data_of, empty_ok

SKU = "BH-007-001"


def _order(api: httpx.Client) -> dict[str, Any]:
    order: dict[str, Any] = data_of(api.get("/orders"))[0]
    return order


def test_layouts_list_invoice_and_delivery_note_templates(api: httpx.Client) -> None:
    assert {layout["Type"] for layout in data_of(api.get("/layouts"))} == {1, 2}


def test_cloud_storages_are_listed(api: httpx.Client) -> None:
    assert data_of(api.get("/cloudstorages"))[0]["Name"]


def test_categories_are_listed(api: httpx.Client) -> None:
    assert {"Id", "Name"} == set(data_of(api.get("/products/category"))[0])


def test_custom_fields_are_paged_and_found_by_id(api: httpx.Client) -> None:
    fields = data_of(api.get("/products/custom-fields"))
    assert data_of(api.get(f"/products/custom-fields/{fields[1]['Id']}")) == fields[1]


def test_an_unknown_custom_field_answers_404(api: httpx.Client) -> None:
    assert api.get("/products/custom-fields/99").status_code == 404


def test_reserved_amount_counts_the_article_in_open_orders(api: httpx.Client) -> None:
    before = data_of(api.get("/products/reservedamount", params={"id": SKU, "lookupBy": "sku"}))
    api.post("/orders", json={"OrderItems": [{"Product": {"SKU": SKU}, "Quantity": 4}]})
    after = data_of(api.get("/products/reservedamount", params={"id": SKU, "lookupBy": "sku"}))
    assert after["ReservedAmount"] == before["ReservedAmount"] + 4


def test_reserved_amount_needs_an_id(api: httpx.Client) -> None:
    assert api.get("/products/reservedamount").status_code == 400


def test_update_stock_code_sets_the_storage_place(api: httpx.Client) -> None:
    data_of(api.post("/products/updatestockcode", json={"Sku": SKU, "StockCode": "A-01-3"}))
    product = data_of(api.get(f"/products/{SKU}", params={"lookupBy": "sku"}))
    assert product["Stocks"][0]["StockCode"] == "A-01-3"


def test_search_finds_products_by_title(api: httpx.Client) -> None:
    results = bare(api.post("/search", json={"Term": "honig", "Type": ["product"]}))
    assert results["Products"] and results["Orders"] == []
    assert all("honig" in p["ShortText"].lower() for p in results["Products"])


def test_search_finds_orders_and_customers_by_name(api: httpx.Client) -> None:
    results = bare(api.post("/search", json={"Term": "Schmidt"}))
    assert results["Orders"] and results["Customers"]


def test_search_without_a_term_is_invalid_data(api: httpx.Client) -> None:
    assert api.post("/search", json={"Type": ["order"]}).status_code == 400


def test_send_message_is_recorded_as_a_comment(api: httpx.Client) -> None:
    order_id = _order(api)["BillBeeOrderId"]
    body = {
        "Subject": [{"LanguageCode": "DE", "Text": "Info"}],
        "Body": [{"LanguageCode": "DE", "Text": "Hallo"}],
    }
    empty_ok(api.post(f"/orders/{order_id}/send-message", json=body))
    assert data_of(api.get(f"/orders/{order_id}"))["Comments"][-1]["Text"] == "Hallo"


def test_trigger_event_is_written_to_the_order_history(api: httpx.Client) -> None:
    order_id = _order(api)["BillBeeOrderId"]
    empty_ok(api.post(f"/orders/{order_id}/trigger-event", json={"Name": "Paket gepackt"}))
    assert data_of(api.get(f"/orders/{order_id}"))["History"][-1]["Text"] == "Paket gepackt"


def test_terms_info_links_to_billbees_terms(api: httpx.Client) -> None:
    assert data_of(api.get("/automaticprovision/termsinfo"))["LinkToTermsWebPage"].startswith(
        "https://"
    )
