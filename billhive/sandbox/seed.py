"""Deterministic demo data for every sandbox account: products, customers, orders.

The same account id always gets the same data (a random source seeded with the id), so
tests and demos can rely on it.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from billhive.sandbox.records import (
    EVENT_ORDER_IMPORTED,
    EVENT_SHIPMENT_ADDED,
    make_customer,
    make_order,
    make_product,
    texts,
)
from billhive.sandbox.state import AccountState, iso

#: Seeded orders are dated back from this moment (fixed so the data is reproducible).
SEED_EPOCH = datetime(2025, 11, 3, 8, 0, tzinfo=UTC)
SEED_PRODUCTS = 8
SEED_CUSTOMERS = 5
SEED_ORDERS = 12

_ARTICLES = (
    ("Bienenwachstuch M", 8.9),
    ("Honig Akazie 500 g", 7.5),
    ("Kerze Bienenwachs", 12.0),
    ("Propolis Tinktur", 14.9),
    ("Honiglöffel Holz", 3.2),
    ("Waldhonig 250 g", 5.9),
    ("Bienenhotel", 24.5),
    ("Geschenkset Imkerei", 39.0),
)
_PEOPLE = (
    ("Anna", "Schmidt", "Berlin", "10115"),
    ("Jonas", "Weber", "Hamburg", "20095"),
    ("Lea", "Fischer", "München", "80331"),
    ("Paul", "Wagner", "Köln", "50667"),
    ("Mia", "Becker", "Leipzig", "04109"),
)


def _ean(rng: random.Random) -> str:
    digits = [rng.randrange(10) for _ in range(12)]
    check = (10 - sum(d * (3 if i % 2 else 1) for i, d in enumerate(digits)) % 10) % 10
    return "".join(map(str, digits)) + str(check)


def seed_account(state: AccountState) -> None:
    """Fill a fresh account with a realistic handful of records."""
    rng = random.Random(state.account_id)  # noqa: S311 - reproducible demo data
    state.stocks.append(
        {
            "Id": state.new_id(),
            "Name": "Standardlager",
            "Description": "Hauptlager",
            "IsDefault": True,
        }
    )
    skus = _seed_products(state, rng)
    customers = _seed_customers(state)
    _seed_orders(state, rng, skus, customers)


def _seed_products(state: AccountState, rng: random.Random) -> list[str]:
    skus = []
    for index, (title, price) in enumerate(_ARTICLES[:SEED_PRODUCTS], start=1):
        sku = f"BH-{state.account_id:03d}-{index:03d}"
        product = make_product(
            state,
            {
                "SKU": sku,
                "EAN": _ean(rng),
                "Title": texts(title),
                "Price": price,
                "CostPrice": round(price * 0.45, 2),
                "Weight": rng.randrange(50, 1500),
                "StockCurrent": float(rng.randrange(0, 120)),
                "StockWarning": 5.0,
                "StockDesired": 40.0,
                "Manufacturer": "Imkerei Sonnenhang",
                "Category1": {
                    "Id": 1 + index % 3,
                    "Name": ("Honig", "Kerzen", "Zubehör")[index % 3],
                },
                "WeightNet": rng.randrange(40, 1200),
                "WidthCm": float(rng.randrange(5, 30)),
                "LengthCm": float(rng.randrange(5, 30)),
                "HeightCm": float(rng.randrange(3, 20)),
                "TaricNumber": "04090000",
            },
            SEED_EPOCH - timedelta(days=90 - index),
        )
        url = f"https://images.billhive.test/{sku}.jpg"
        product["Images"] = [
            {
                "Id": state.new_id(),
                "Url": url,
                "ThumbUrl": url,
                "Position": 1,
                "IsDefault": True,
                "ArticleId": product["Id"],
            }
        ]
        state.products[product["Id"]] = product
        skus.append(sku)
    return skus


def _seed_customers(state: AccountState) -> list[tuple[int, dict[str, str]]]:
    customers = []
    for first, last, city, zip_code in _PEOPLE[:SEED_CUSTOMERS]:
        email = f"{first.lower()}.{last.lower()}@example.com"
        address = {
            "FirstName": first,
            "LastName": last,
            "Street": "Hauptstraße",
            "Housenumber": str(len(first) * 3),
            "Zip": zip_code,
            "City": city,
            "CountryCode": "DE",
            "Email": email,
        }
        customer = make_customer(
            state,
            {
                "Name": f"{first} {last}",
                "Email": email,
                "Tel1": f"0{zip_code[:3]} {len(first) * 1234567}",
                "PriceGroupId": 1,
                "VatId": "",
                "Address": {**address, "AddressType": 1},
            },
        )
        state.customers[customer["Id"]] = customer
        customers.append((customer["Id"], address))
    return customers


def _seed_orders(
    state: AccountState,
    rng: random.Random,
    skus: list[str],
    customers: list[tuple[int, dict[str, str]]],
) -> None:
    states = (1, 2, 3, 3, 4, 4, 4, 7, 1, 3, 13, 8)
    for index in range(SEED_ORDERS):
        created = SEED_EPOCH - timedelta(days=SEED_ORDERS - index, hours=rng.randrange(0, 12))
        customer_id, address = customers[index % len(customers)]
        items = []
        for sku in rng.sample(skus, rng.randrange(1, 4)):
            product = next(p for p in state.products.values() if p["SKU"] == sku)
            quantity = rng.randrange(1, 4)
            items.append(
                {
                    "Product": {"SKU": sku},
                    "Quantity": quantity,
                    "TotalPrice": round(product["Price"] * quantity, 2),
                }
            )
        order_address = {
            "FirstName": address["FirstName"],
            "LastName": address["LastName"],
            "Street": address["Street"],
            "HouseNumber": address["Housenumber"],
            "Zip": address["Zip"],
            "City": address["City"],
            "CountryISO2": "DE",
            "Country": "DE",
            "Email": address["Email"],
        }
        order = make_order(
            state,
            {
                "Id": f"SHOP-{state.account_id}-{1001 + index}",
                "OrderNumber": f"{1001 + index}",
                "State": states[index % len(states)],
                "InvoiceAddress": order_address,
                "OrderItems": items,
                "ShippingCost": 4.9,
                "CreatedAt": iso(created),
                "Tags": ["Stammkunde"] if index % 4 == 0 else [],
                "CustomerNumber": str(state.customers[customer_id]["Number"]),
                "Customer": dict(state.customers[customer_id]),
            },
            created,
            None,
        )
        order["IsFromBillbeeApi"] = False
        state.orders[order["BillBeeOrderId"]] = order
        state.add_event(
            EVENT_ORDER_IMPORTED, "Auftrag eingelesen", created, order["BillBeeOrderId"]
        )
        if order["State"] in (4, 7):
            shipped = created + timedelta(days=1)
            order["ShippedAt"] = iso(shipped)
            shipment = {
                "BillbeeId": state.new_id(),
                "ShippingId": f"00340434{order['BillBeeOrderId'] % 10**10:010d}",
                "Shipper": "DHL",
                "Created": iso(shipped),
                "TrackingUrl": "https://www.dhl.de/de/privatkunden/pakete-empfangen/verfolgen.html",
                "ShippingProviderId": 1,
                "ShippingProviderProductId": 1,
                "ShipmentType": 0,
                "ShippingCarrier": 2,
            }
            order["ShippingIds"].append(shipment)
            state.shipments.append({**shipment, "OrderId": order["BillBeeOrderId"]})
            state.add_event(
                EVENT_SHIPMENT_ADDED, "Sendung hinzugefügt", shipped, order["BillBeeOrderId"]
            )
