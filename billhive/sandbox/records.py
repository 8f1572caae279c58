"""Builders for stored records in the spec's shapes (used by the seed and the handlers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billhive.sandbox.envelope import invalid
from billhive.sandbox.state import JSON, AccountState, iso

ORDER_STATES: dict[int, str] = {
    1: "Bestellt",
    2: "Bestätigt",
    3: "Bezahlt",
    4: "Versendet",
    5: "Reklamation",
    6: "Gelöscht",
    7: "Abgeschlossen",
    8: "Storniert",
    9: "Archiviert",
    10: "Rechnung erhalten",
    11: "Mahnung 1",
    12: "Mahnung 2",
    13: "Gepackt",
    14: "Angeboten",
    15: "Zahlungserinnerung",
    16: "Im Fulfillment",
}

#: Event type ids the sandbox writes (Billbee's ids are not published; these are stable).
EVENT_ORDER_IMPORTED = 1
EVENT_STATE_CHANGED = 2
EVENT_SHIPMENT_ADDED = 3
EVENT_INVOICE_CREATED = 4
EVENT_STOCK_CHANGED = 5
EVENT_API_USAGE = 55


def texts(value: str) -> list[JSON]:
    """A MultiLanguageString list in German (Billbee's default language)."""
    return [{"LanguageCode": "DE", "Text": value}]


def default_stock(state: AccountState) -> JSON:
    """The account's default stock (every account has one)."""
    return next(s for s in state.stocks if s["IsDefault"])


def make_product(state: AccountState, data: JSON, now: datetime) -> JSON:
    """A stored ArticleApiModel from request data (SKU required and unique)."""
    sku = data.get("SKU")
    if not isinstance(sku, str) or not sku:
        raise invalid("SKU is required.")
    if any(p.get("SKU") == sku for p in state.products.values()):
        raise invalid(f"A product with this SKU already exists: {sku}")
    title = data.get("Title") or texts(sku)
    stock = float(data.get("StockCurrent") or 0)
    stock_home = default_stock(state)
    product: JSON = {
        "Type": 1,
        "IsDigital": False,
        "IsCustomizable": False,
        "VatIndex": 1,
        "Vat1Rate": 19.0,
        "Vat2Rate": 7.0,
        "Price": 0.0,
        **{k: v for k, v in data.items() if v is not None},
        "Id": state.new_id(),
        "Title": title,
        "StockCurrent": stock,
        "Stocks": [
            {
                "StockId": stock_home["Id"],
                "Name": stock_home["Name"],
                "StockCurrent": stock,
                "StockWarning": float(data.get("StockWarning") or 0),
                "UnfulfilledAmount": 0.0,
            }
        ],
        "CreatedAt": iso(now),
    }
    return product


def public_product(product: JSON) -> JSON:
    """The product without sandbox-internal fields."""
    return {k: v for k, v in product.items() if k != "CreatedAt"}


def make_customer_address(state: AccountState, customer_id: int, data: JSON) -> JSON:
    """A stored CustomerAddressApiModel."""
    address_type = data.get("AddressType", 1)
    if address_type not in (1, 2):
        raise invalid("AddressType must be 1 (invoice) or 2 (shipping).")
    return {
        **{k: v for k, v in data.items() if v is not None},
        "Id": state.new_id(),
        "CustomerId": customer_id,
        "AddressType": address_type,
    }


def meta(state: AccountState, type_id: int, type_name: str, value: str) -> JSON:
    """A CustomerMetaDataApiModel entry (e-mail or phone)."""
    return {
        "Id": state.new_id(),
        "TypeId": type_id,
        "TypeName": type_name,
        "SubType": "",
        "Value": value,
    }


def make_customer(state: AccountState, data: JSON) -> JSON:
    """A stored CustomerApiModel (its Address, if given, becomes its first address)."""
    fields = {k: v for k, v in data.items() if v is not None and k not in ("Address", "Id")}
    number = 1 + max((int(c.get("Number", 0)) for c in state.customers.values()), default=0)
    customer: JSON = {"Type": 0, "LanguageId": 1, "Number": number, **fields, "Id": state.new_id()}
    if "Name" not in customer:
        raise invalid("Name is required.")
    if "Email" in customer:
        mail = meta(state, 1, "EMail", str(customer["Email"]))
        customer.setdefault("DefaultMailAddress", mail)
        customer.setdefault("MetaData", [mail])
    address = data.get("Address")
    if isinstance(address, dict):
        stored = make_customer_address(state, customer["Id"], address)
        state.addresses[stored["Id"]] = stored
    return customer


def order_address(data: JSON | None, state: AccountState) -> JSON:
    """An OrderAddressApiModel with a BillbeeId."""
    return {**(data or {}), "BillbeeId": state.new_id()}


def make_order_item(state: AccountState, data: JSON) -> JSON:
    """An OrderItem; a product named by SKU links to the account's article."""
    product_data = dict(data.get("Product") or {})
    sku = product_data.get("SKU")
    known = next((p for p in state.products.values() if sku and p.get("SKU") == sku), None)
    if known is not None:
        product_data.setdefault("BillbeeId", known["Id"])
        product_data.setdefault("Title", known["Title"][0]["Text"])
        product_data.setdefault("EAN", known.get("EAN", ""))
    if sku or product_data.get("Id"):
        product_data["SkuOrId"] = sku or product_data["Id"]
    quantity = float(data.get("Quantity") or 1)
    total = float(data.get("TotalPrice") or 0)
    return {
        "Attributes": [],
        "Discount": 0.0,
        "TaxIndex": 1,
        **{k: v for k, v in data.items() if v is not None},
        "BillbeeId": state.new_id(),
        "Product": product_data,
        "Quantity": quantity,
        "TotalPrice": total,
        "TaxAmount": round(total - total / 1.19, 2),
        "InvoiceSKU": sku or "",
    }


def make_order(state: AccountState, data: JSON, now: datetime, shop_id: int | None) -> JSON:
    """A stored Order from request data (external Id must be unique per account)."""
    external_id = str(data.get("Id") or data.get("OrderNumber") or "")
    if external_id and any(o.get("Id") == external_id for o in state.orders.values()):
        raise invalid(f"An order with this external id already exists: {external_id}")
    items = data.get("OrderItems") or []
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        raise invalid("OrderItems must be a list of objects.")
    order_id = state.new_id()
    shop = shop_id or 100_000_000_000 + state.account_id
    order_items = [make_order_item(state, i) for i in items]
    shipping = float(data.get("ShippingCost") or 0)
    total = round(sum(i["TotalPrice"] for i in order_items) + shipping, 2)
    seller: JSON = {
        "Platform": "Billbee API",
        "BillbeeShopName": state.account_name,
        "BillbeeShopId": shop,
    }
    order: JSON = {
        "State": 1,
        "VatMode": 0,
        "Currency": "EUR",
        "PaymentMethod": 22,
        "TaxRate1": 19.0,
        "TaxRate2": 7.0,
        "LanguageCode": "DE",
        "AcceptLossOfReturnRight": False,
        "Comments": [],
        "Payments": [],
        "Tags": [],
        "ShippingCost": shipping,
        **{k: v for k, v in data.items() if v is not None},
        "BillBeeOrderId": order_id,
        "Id": external_id or str(order_id),
        "OrderNumber": str(data.get("OrderNumber") or f"BB-{order_id % 1_000_000:06d}"),
        "InvoiceAddress": order_address(data.get("InvoiceAddress"), state),
        "ShippingAddress": order_address(
            data.get("ShippingAddress") or data.get("InvoiceAddress"), state
        ),
        "OrderItems": order_items,
        "TotalCost": float(data.get("TotalCost") or total),
        "Seller": {**seller, **(data.get("Seller") or {})},
        "Buyer": {**seller, **(data.get("Buyer") or {})},
        "ShippingIds": [],
        "CreatedAt": str(data.get("CreatedAt") or iso(now)),
        "UpdatedAt": iso(now),
        "LastModifiedAt": iso(now),
        "IsFromBillbeeApi": True,
        "ApiAccountId": state.account_id,
        "ApiAccountName": state.account_name,
        "History": [
            history(now, "Auftrag eingelesen", "Der Auftrag wurde über die API angelegt", 0)
        ],
    }
    if order["State"] not in ORDER_STATES:
        raise invalid(f"State {order['State']} is not a known order state.")
    return order


def history(now: datetime, event: str, text: str, type_id: int) -> JSON:
    """An order HistoryEntry."""
    return {
        "Created": iso(now),
        "EventTypeName": event,
        "Text": text,
        "EmployeeName": "API",
        "TypeId": type_id,
    }


def touch(order: JSON, now: datetime) -> None:
    """Mark an order as modified now."""
    order["UpdatedAt"] = order["LastModifiedAt"] = iso(now)


def number(data: JSON, name: str, *, required: bool = True) -> Any:
    """A numeric field of a request body, or a clear InvalidData error."""
    value = data.get(name)
    if value is None and not required:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise invalid(f"{name} must be a number.")
    return value
