"""Builders for stored records in the spec's shapes (used by the seed and the handlers)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from billhive.billbee import enums
from billhive.sandbox.envelope import invalid
from billhive.sandbox.state import JSON, AccountState, iso

#: Where an order opens in Billbee (``Order.WebUrl``, newer than the 2023 description); the
#: sandbox's own address, since it is not Billbee.
ORDER_WEB_URL = "https://sandbox.billhive.test/orders/{}"
#: The shop account id of an account's own API orders (``Seller.BillbeeShopId``).
SHOP_ID_BASE = 100_000_000_000

#: The German texts Billbee shows for its order states (``OrderStateText``); the enum
#: names of GET /enums/orderstates are those of billhive.billbee.enums.
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
    17: "Status 17",
}

#: Event type ids the sandbox writes: Billbee's own (the SDKs' EventType tables).
EVENT_ORDER_IMPORTED = enums.EVENT_ORDER_IMPORTED
EVENT_STATE_CHANGED = enums.EVENT_ORDER_STATE_CHANGED
EVENT_SHIPMENT_ADDED = enums.EVENT_SHIPMENT_CREATED
EVENT_INVOICE_CREATED = enums.EVENT_BILL_PRINTED
EVENT_DELIVERY_NOTE_CREATED = enums.EVENT_DELIVERY_NOTE_PRINTED
EVENT_STOCK_CHANGED = enums.EVENT_STOCK_SYNCED
EVENT_RULE_EXECUTED = enums.EVENT_RULE_EXECUTED
EVENT_ORDER_MODIFIED = enums.EVENT_ORDER_MODIFIED


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
    name = title[0]["Text"] if isinstance(title, list) and title else sku
    stock = float(data.get("StockCurrent") or 0)
    stock_home = default_stock(state)
    product: JSON = {
        # The fields of an ArticleApiModel an article without special settings has, in the
        # order and with the types of the SDK's complete sample (get_product_response).
        "Type": 1,
        "InvoiceText": texts(name),
        "ShortDescription": texts(name),
        "Description": texts(name),
        "Sources": [
            {
                # An int32 in the description (the SDK sample's 36174052), unlike other ids.
                "Id": state.new_id() % 1_000_000_000,
                "Source": "manual",
                "SourceId": sku,
                "ApiAccountName": state.account_name,
                "ApiAccountId": SHOP_ID_BASE + state.account_id,
                "ExportFactor": 1.0,
                "StockSyncInactive": False,
                "UnitsPerItem": 1.0,
            }
        ],
        "VatIndex": 1,
        "Vat1Rate": 19.0,
        "Vat2Rate": 7.0,
        "Price": 0.0,
        "StockDesired": 0.0,
        "StockWarning": 0.0,
        "LowStock": False,
        "StockCode": "",
        "StockReduceItemsPerSale": 1.0,
        "Unit": 1,
        "UnitsPerItem": 1.0,
        "SoldAmount": 0.0,
        "SoldSumGross": 0.0,
        "SoldSumNet": 0.0,
        "SoldSumNetLast30Days": 0.0,
        "SoldSumGrossLast30Days": 0.0,
        "SoldAmountLast30Days": 0.0,
        "IsDigital": False,
        "IsCustomizable": False,
        "DeliveryTime": 2,
        "Recipient": 0,
        "Occasion": 0,
        "CountryOfOrigin": "DE",
        "Condition": 1,
        "IsDeactivated": False,
        **{k: v for k, v in data.items() if v is not None},
        "Id": state.new_id(),
        "Title": title,
        "StockCurrent": stock,
        "Stocks": [
            {
                "StockId": stock_home["Id"],
                "Name": stock_home["Name"],
                "StockCurrent": stock,
                # True for articles whose stock follows their parts (bills of material);
                # every sandbox article keeps its own.
                "StockCurrentIsCalculated": False,
                "StockWarning": float(data.get("StockWarning") or 0),
                "UnfulfilledAmount": 0.0,
            }
        ],
        "CreatedAt": iso(now),
    }
    product["LowStock"] = stock < float(product.get("StockWarning") or 0)
    return product


#: Fields of a stored product only the sandbox reads.
_PRODUCT_INTERNAL = frozenset({"CreatedAt", "StockModifiedAt"})


def public_product(product: JSON) -> JSON:
    """The product without sandbox-internal fields."""
    return {k: v for k, v in product.items() if k not in _PRODUCT_INTERNAL}


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
    found: list[JSON] = []
    if "Email" in customer:
        mail = meta(state, 1, "EMail", str(customer["Email"]))
        for role in ("DefaultMailAddress", "DefaultCommercialMailAddress"):
            customer.setdefault(role, mail)
        customer.setdefault("DefaultStatusUpdatesMailAddress", mail)
        found.append(mail)
    if "Tel1" in customer:
        phone = meta(state, 2, "Phone", str(customer["Tel1"]))
        customer.setdefault("DefaultPhone1", phone)
        found.append(phone)
    if found:
        customer.setdefault("MetaData", found)
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
        product_data.setdefault("Id", str(known["Id"]))
        product_data.setdefault("BillbeeId", known["Id"])
        product_data.setdefault("Title", known["Title"][0]["Text"])
        product_data.setdefault("Weight", known.get("Weight"))
        product_data.setdefault("EAN", known.get("EAN", ""))
        product_data.setdefault("IsDigital", known.get("IsDigital", False))
        product_data.setdefault("TARICCode", known.get("TaricNumber", ""))
        product_data.setdefault("CountryOfOrigin", known.get("CountryOfOrigin", ""))
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
    # ApiAccountId names the shop account; the query's shopId is its deprecated older form.
    api_account = data.get("ApiAccountId")
    if api_account is not None and (
        isinstance(api_account, bool) or not isinstance(api_account, int)
    ):
        raise invalid("ApiAccountId must be the number of a shop account.")
    shop = api_account or shop_id or SHOP_ID_BASE + state.account_id
    order_items = [make_order_item(state, i) for i in items]
    shipping = float(data.get("ShippingCost") or 0)
    total = round(sum(i["TotalPrice"] for i in order_items) + shipping, 2)
    shop_user: JSON = {
        "Platform": "Billbee API",
        "BillbeeShopName": state.account_name,
        "BillbeeShopId": shop,
    }
    seller: JSON = {
        **shop_user,
        "Id": str(shop),
        "Nick": state.account_name,
        "FirstName": "",
        "LastName": "",
        "FullName": state.account_name,
        "Email": "",
    }
    billing = data.get("InvoiceAddress") or {}
    first, last = str(billing.get("FirstName") or ""), str(billing.get("LastName") or "")
    buyer: JSON = {
        **shop_user,
        "Id": str(billing.get("Email") or order_id),
        "Nick": first.lower() or "kunde",
        "FirstName": first,
        "LastName": last,
        "FullName": f"{first} {last}".strip(),
        "Email": str(billing.get("Email") or ""),
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
        "Buyer": {**buyer, **(data.get("Buyer") or {})},
        "ShippingIds": [],
        "CreatedAt": str(data.get("CreatedAt") or iso(now)),
        "UpdatedAt": iso(now),
        "LastModifiedAt": iso(now),
        "IsFromBillbeeApi": True,
        "ApiAccountId": shop,
        "ApiAccountName": state.account_name,
        "WebUrl": ORDER_WEB_URL.format(order_id),
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
