"""Customers and addresses."""

from __future__ import annotations

from typing import Any

import httpx
from support.sandbox import data_of

from billhive.sandbox.seed import SEED_CUSTOMERS


def _customer(api: httpx.Client) -> dict[str, Any]:
    customers: list[dict[str, Any]] = data_of(api.get("/customers"))
    return customers[0]


def test_customers_list_holds_the_seeded_customers(api: httpx.Client) -> None:
    assert api.get("/customers").json()["Paging"]["TotalRows"] == SEED_CUSTOMERS


def test_get_customer(api: httpx.Client) -> None:
    customer = _customer(api)
    assert data_of(api.get(f"/customers/{customer['Id']}")) == customer


def test_get_unknown_customer_answers_404(api: httpx.Client) -> None:
    assert api.get("/customers/1").status_code == 404


def test_create_customer_with_an_address(api: httpx.Client) -> None:
    customer = data_of(
        api.post(
            "/customers",
            json={"Name": "Eva Braun", "Email": "eva@example.com", "Address": {"City": "Bonn"}},
        )
    )
    addresses = data_of(api.get(f"/customers/{customer['Id']}/addresses"))
    assert [a["City"] for a in addresses] == ["Bonn"]
    assert customer["DefaultMailAddress"]["Value"] == "eva@example.com"


def test_create_customer_without_a_name_is_invalid_data(api: httpx.Client) -> None:
    assert api.post("/customers", json={"Email": "x@example.com"}).status_code == 400


def test_update_customer(api: httpx.Client) -> None:
    customer_id = _customer(api)["Id"]
    assert (
        data_of(api.put(f"/customers/{customer_id}", json={"Tel1": "0301234"}))["Tel1"] == "0301234"
    )


def test_add_address_to_a_customer(api: httpx.Client) -> None:
    customer_id = _customer(api)["Id"]
    address = data_of(
        api.post(f"/customers/{customer_id}/addresses", json={"AddressType": 2, "City": "Trier"})
    )
    assert address["CustomerId"] == customer_id
    assert data_of(api.get(f"/customers/addresses/{address['Id']}"))["City"] == "Trier"


def test_an_unknown_address_type_is_invalid_data(api: httpx.Client) -> None:
    customer_id = _customer(api)["Id"]
    assert (
        api.post(f"/customers/{customer_id}/addresses", json={"AddressType": 3}).status_code == 400
    )


def test_patch_address_changes_only_the_given_fields(api: httpx.Client) -> None:
    address = data_of(api.get("/customer-addresses"))[0]
    patched = data_of(api.patch(f"/customers/addresses/{address['Id']}", json={"Zip": "99999"}))
    assert patched["Zip"] == "99999" and patched["City"] == address["City"]


def test_put_address_replaces_it(api: httpx.Client) -> None:
    address = data_of(api.get("/customer-addresses"))[0]
    replaced = data_of(api.put(f"/customer-addresses/{address['Id']}", json={"City": "Ulm"}))
    assert replaced["City"] == "Ulm" and "Zip" not in replaced
    assert replaced["CustomerId"] == address["CustomerId"]


def test_create_address_through_customer_addresses(api: httpx.Client) -> None:
    customer_id = _customer(api)["Id"]
    address = data_of(
        api.post("/customer-addresses", json={"CustomerId": customer_id, "City": "Kiel"})
    )
    assert data_of(api.get(f"/customer-addresses/{address['Id']}"))["City"] == "Kiel"


def test_create_address_for_an_unknown_customer_is_invalid_data(api: httpx.Client) -> None:
    assert api.post("/customer-addresses", json={"CustomerId": 1}).status_code == 400


def test_customer_orders_lists_the_customers_orders(api: httpx.Client) -> None:
    customer_id = _customer(api)["Id"]
    rows = data_of(api.get(f"/customers/{customer_id}/orders"))
    orders = {o["BillBeeOrderId"]: o for o in data_of(api.get("/orders"))}
    assert rows and all(orders[r["Id"]]["Customer"]["Id"] == customer_id for r in rows)
