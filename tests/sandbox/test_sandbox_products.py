"""Products and stock: list, lookups, create, patch, delete, updatestock(multiple), stocks."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from support.sandbox import Sandbox, data_of

from billhive.sandbox.seed import SEED_PRODUCTS

SKU = "BH-007-001"  # the first seeded product of account 7 (MERCHANT)


def _product(api: httpx.Client, sku: str = SKU) -> dict[str, Any]:
    product: dict[str, Any] = data_of(api.get(f"/products/{sku}", params={"lookupBy": "sku"}))
    return product


def test_products_list_holds_the_seeded_articles(api: httpx.Client) -> None:
    assert api.get("/products").json()["Paging"]["TotalRows"] == SEED_PRODUCTS


def test_products_list_filters_by_billbee_id_range(api: httpx.Client) -> None:
    ids = [p["Id"] for p in data_of(api.get("/products"))]
    ranged = data_of(
        api.get(
            "/products",
            params={"minimumBillBeeArticleId": ids[1], "maximumBillBeeArticleId": ids[2]},
        )
    )
    assert [p["Id"] for p in ranged] == ids[1:3]


def test_get_product_by_id(api: httpx.Client) -> None:
    product = _product(api)
    assert data_of(api.get(f"/products/{product['Id']}"))["SKU"] == SKU


def test_get_product_by_ean(api: httpx.Client) -> None:
    product = _product(api)
    found = data_of(api.get(f"/products/{product['EAN']}", params={"lookupBy": "ean"}))
    assert found["Id"] == product["Id"]


def test_get_unknown_product_answers_404(api: httpx.Client) -> None:
    assert api.get("/products/NOPE", params={"lookupBy": "sku"}).status_code == 404


def test_an_unknown_lookup_kind_is_invalid_data(api: httpx.Client) -> None:
    assert api.get(f"/products/{SKU}", params={"lookupBy": "name"}).status_code == 400


def test_create_product_then_find_it_by_sku(api: httpx.Client) -> None:
    created = data_of(
        api.post(
            "/products",
            json={"SKU": "NEW-1", "Title": [{"LanguageCode": "DE", "Text": "Neu"}], "Price": 9.5},
        )
    )
    assert _product(api, "NEW-1")["Id"] == created["Id"]


def test_create_product_with_a_known_sku_is_invalid_data(api: httpx.Client) -> None:
    assert api.post("/products", json={"SKU": SKU}).json()["ErrorCode"] == 11


def test_patch_product_changes_the_field(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    assert data_of(api.patch(f"/products/{product_id}", json={"Price": 11.0}))["Price"] == 11.0


def test_patch_product_refuses_the_stock_field(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    assert api.patch(f"/products/{product_id}", json={"StockCurrent": 5}).status_code == 400


def test_delete_product_removes_it(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    data_of(api.delete(f"/products/{product_id}"))
    assert api.get(f"/products/{product_id}").status_code == 404


def test_update_stock_sets_the_absolute_quantity(api: httpx.Client) -> None:
    old = _product(api)["StockCurrent"]
    result = data_of(
        api.post(
            "/products/updatestock",
            json={"Sku": SKU, "NewQuantity": 42, "DeltaQuantity": 5, "OldQuantity": 1},
        )
    )
    assert result == {
        "SKU": SKU,
        "OldStock": old,
        "CurrentStock": 42.0,
        "UnfulfilledAmount": 0.0,
        "Message": f"The qty was successfully updated from {old:g} to 42",
    }
    assert _product(api)["StockCurrent"] == 42.0


def test_update_stock_by_billbee_id(api: httpx.Client) -> None:
    product_id = _product(api)["Id"]
    data_of(api.post("/products/updatestock", json={"BillbeeId": product_id, "NewQuantity": 3}))
    assert _product(api)["Stocks"][0]["StockCurrent"] == 3.0


def test_update_stock_without_new_quantity_is_invalid_data(api: httpx.Client) -> None:
    response = api.post("/products/updatestock", json={"Sku": SKU})
    assert response.status_code == 400
    assert "NewQuantity" in response.json()["ErrorMessage"]


def test_update_stock_multiple_answers_one_envelope_per_entry(api: httpx.Client) -> None:
    results = api.post(
        "/products/updatestockmultiple",
        json=[{"Sku": SKU, "NewQuantity": 1}, {"Sku": "UNKNOWN", "NewQuantity": 2}],
    ).json()
    assert [r["ErrorCode"] for r in results] == [0, 11]
    assert results[0]["Data"]["CurrentStock"] == 1.0


def test_update_stock_multiple_refuses_more_entries_than_the_cap(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(throttle=False, max_stock_batch=2).client()
    response = api.post(
        "/products/updatestockmultiple", json=[{"Sku": SKU, "NewQuantity": n} for n in range(3)]
    )
    assert response.status_code == 400
    assert "at most 2" in response.json()["ErrorMessage"]
    assert _product(api)["StockCurrent"] != 2.0


def test_update_stock_multiple_accepts_exactly_the_cap(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    api = sandbox_factory(throttle=False, max_stock_batch=2).client()
    response = api.post(
        "/products/updatestockmultiple", json=[{"Sku": SKU, "NewQuantity": n} for n in range(2)]
    )
    assert response.status_code == 200


def test_stocks_lists_the_default_stock(api: httpx.Client) -> None:
    stocks = data_of(api.get("/products/stocks"))
    assert [s["IsDefault"] for s in stocks] == [True]


def test_patchable_fields_are_listed(api: httpx.Client) -> None:
    assert "Price" in data_of(api.get("/products/PatchableFields"))
