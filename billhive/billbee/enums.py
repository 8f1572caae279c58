"""Billbee's enumerations with their published ids and names, as data.

The 2023 description leaves these as bare integers; the official SDKs publish the tables
(billbee-csharp-sdk ``Enums/*.cs``, billbee-php-sdk ``src/Type/*.php``), so the names here
are those of the .NET SDK. Values Billbee added later without publishing a name (order
state 17, shipping carriers 19 and 20, ErrorCode 19-29, every shop account type and sync
state) read ``<Table><id>``: an honest placeholder, never a guess.

Pure data: the sandbox answers ``GET /enums/*`` from these tables.
"""

from __future__ import annotations

#: Order states (billbee-csharp-sdk OrderStateEnum; 17 is newer and unnamed).
ORDER_STATES: dict[int, str] = {
    1: "Bestellt",
    2: "Bestaetigt",
    3: "Zahlung_erhalten",
    4: "Versendet",
    5: "Reklamation",
    6: "Geloescht",
    7: "Abgeschlossen",
    8: "Storniert",
    9: "Archiviert",
    10: "Rated",
    11: "Mahnung",
    12: "Mahnung2",
    13: "Gepackt",
    14: "Angeboten",
    15: "Zahlungserinnerung",
    16: "Im_Fulfillment",
    17: "OrderState17",
}

#: Shipping carriers (billbee-csharp-sdk ShippingCarrierEnum, ids by position; the PHP SDK's
#: ShippingCarrier constants agree; 19 and 20 are in the 2024 description, unnamed).
SHIPPING_CARRIERS: dict[int, str] = {
    0: "other",
    1: "dhlExpress",
    2: "dhl",
    3: "hermes",
    4: "dpd",
    5: "ups",
    6: "gls",
    7: "dpag",
    8: "OePost",
    9: "fedex",
    10: "generalOvernight",
    11: "tnt",
    12: "liefery",
    13: "iloxx",
    14: "parcel_one",
    15: "cargo_international",
    16: "pin_mail",
    17: "usPostalService",
    18: "amazon_logistics",
    19: "ShippingCarrier19",
    20: "ShippingCarrier20",
}

#: Shipment types (billbee-csharp-sdk ShipmentTypeEnum).
SHIPMENT_TYPES: dict[int, str] = {0: "Shipment", 1: "Retoure"}

#: Payment types (billbee-csharp-sdk PaymentTypeEnum, the first 60 of its 138; the PHP
#: SDK's PaymentType constants agree on every shared id).
PAYMENT_TYPES: dict[int, str] = {
    1: "Bankueberweisung",
    2: "Nachnahme",
    3: "PayPal",
    4: "Barzahlung",
    6: "Gutschein",
    19: "Sofortüberweisung",
    20: "MoneyOrder",
    21: "Check",
    22: "Andere",
    23: "Lastschrift",
    24: "Moneybookers",
    25: "KLARNA_Invoice",
    26: "Rechnung",
    27: "Moneybookers_Kreditkarte",
    28: "Moneybookers_Lastschrift",
    29: "BILLPAY_Rechnung",
    30: "BILLPAY_Lastschrift",
    31: "Kreditkarte",
    32: "Maestro",
    33: "iDEAL",
    34: "EPS",
    35: "P24",
    36: "ClickAndBuy",
    37: "GiroPay",
    38: "Novalnet_Lastschrift",
    39: "KLARNA_PartPayment",
    40: "iPayment_CC",
    41: "Billsafe",
    42: "Testbestellung",
    43: "WireCard_Kreditkarte",
    44: "AmazonPayments",
    45: "Secupay_Kreditkarte",
    46: "Secupay_Lastschrift",
    47: "WireCard_Lastschrift",
    48: "EC",
    49: "Paymill_Kreditkarte",
    50: "Novalnet_Kreditkarte",
    51: "Novalnet_Rechnung",
    52: "Novalnet_PayPal",
    53: "Paymill",
    54: "Rechnung_PayPal",
    55: "Selekkt",
    56: "Avocadostore",
    57: "DirectCheckout",
    58: "Rakuten",
    59: "Vorkasse",
    60: "Kommissionsabrechnung",
}

#: The event types of GET /events the sandbox writes (billbee-csharp-sdk EventTypeEnum, ids
#: by position; the PHP SDK's EventType constants agree). The full table has 77 entries.
EVENT_TYPES: dict[int, str] = {
    0: "OrderImported",
    1: "BillPrinted",
    2: "LabelPrinted",
    5: "OrderDeleted",
    11: "DeliveryNotePrinted",
    12: "OrderShipped",
    13: "OrderPaid",
    15: "OrderStateChanged",
    18: "ShipmentCreated",
    28: "RuleExecuted",
    29: "CreatedByApi",
    41: "StockSynced",
    55: "ApiUsage",
    62: "OrderModified",
}
EVENT_ORDER_IMPORTED = 0
EVENT_BILL_PRINTED = 1
EVENT_DELIVERY_NOTE_PRINTED = 11
EVENT_ORDER_STATE_CHANGED = 15
EVENT_SHIPMENT_CREATED = 18
EVENT_RULE_EXECUTED = 28
EVENT_STOCK_SYNCED = 41
EVENT_ORDER_MODIFIED = 62

#: Shop account types: the 2024 description lists ids 1-71 (53 missing) and 2147483647 for
#: ``ShopAccountReadApiModel.AccountType`` and refers to GET /enums/shopaccounttype for the
#: names, which are not published.
SHOP_ACCOUNT_TYPES: dict[int, str] = {
    n: f"ShopAccountType{n}" for n in (*range(1, 53), *range(54, 72), 2147483647)
}

#: Account sync states: the ids of ``ShopAccountReadApiModel.LastSyncState`` in the 2024
#: description; no names are published.
ACCOUNT_SYNC_STATES: dict[int, str] = {n: f"AccountSyncState{n}" for n in (0, 1, 2, 254, 255)}


def enum_entries(table: dict[int, str]) -> list[dict[str, int | str]]:
    """A table as Billbee's enum endpoints answer it: ``[{"Id": 1, "Name": "..."}]``."""
    return [{"Id": key, "Name": name} for key, name in table.items()]
