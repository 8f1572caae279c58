"""Customers and their addresses (both the /customers and /customer-addresses paths)."""

from __future__ import annotations

from flask import Response

from billhive.sandbox.envelope import invalid, not_found, ok, paged
from billhive.sandbox.records import ORDER_STATES, make_customer, make_customer_address
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.state import JSON

#: Fields a client may not change on an address (the sandbox owns them).
_ADDRESS_OWNED = ("Id", "CustomerId")
#: The fields of a CustomerAddressApiModel (the 2023 description): what PATCH takes.
ADDRESS_FIELDS = frozenset(
    {
        "AddressAddition",
        "AddressType",
        "ArchivedAt",
        "City",
        "Company",
        "CountryCode",
        "CustomerId",
        "Email",
        "Fax",
        "FirstName",
        "Housenumber",
        "Id",
        "LastName",
        "Name2",
        "RestoredAt",
        "State",
        "Street",
        "Tel1",
        "Tel2",
        "Zip",
    }
)


def find_customer(call: Call, name: str = "id") -> JSON:
    """The customer named by a path parameter."""
    customer = call.state.customers.get(call.path_int(name))
    if customer is None:
        raise not_found("Customer")
    return customer


def find_address(call: Call) -> JSON:
    """The address named by the ``id`` path parameter."""
    address = call.state.addresses.get(call.path_int("id"))
    if address is None:
        raise not_found("Address")
    return address


def list_customers(call: Call) -> Response:
    """GET /customers."""
    page, size = call.paging()
    return paged([c for _, c in sorted(call.state.customers.items())], page, size)


def get_customer(call: Call) -> Response:
    """GET /customers/{id}."""
    return ok(find_customer(call))


def create_customer(call: Call) -> Response:
    """POST /customers (an ``Address`` in the body becomes the first address)."""
    customer = make_customer(call.state, call.body_object())
    call.state.customers[customer["Id"]] = customer
    return ok(customer)


def update_customer(call: Call) -> Response:
    """PUT /customers/{id}: replaces the given fields (the id stays)."""
    customer = find_customer(call)
    data = {k: v for k, v in call.body_object().items() if v is not None and k != "Id"}
    customer.update(data)
    return ok(customer)


def list_customer_addresses(call: Call) -> Response:
    """GET /customers/{id}/addresses."""
    customer = find_customer(call)
    page, size = call.paging()
    rows = [a for _, a in sorted(call.state.addresses.items()) if a["CustomerId"] == customer["Id"]]
    return paged(rows, page, size)


def _add_address(call: Call, customer_id: int, data: JSON) -> Response:
    address = make_customer_address(call.state, customer_id, data)
    call.state.addresses[address["Id"]] = address
    return ok(address)


def add_customer_address(call: Call) -> Response:
    """POST /customers/{id}/addresses."""
    customer = find_customer(call)
    return _add_address(call, customer["Id"], call.body_object())


def create_address(call: Call) -> Response:
    """POST /customer-addresses (the body names the CustomerId)."""
    data = call.body_object()
    customer_id = data.get("CustomerId")
    if not isinstance(customer_id, int) or customer_id not in call.state.customers:
        raise invalid("CustomerId must name an existing customer.")
    return _add_address(call, customer_id, data)


def get_address(call: Call) -> Response:
    """GET /customers/addresses/{id} and /customer-addresses/{id}."""
    return ok(find_address(call))


def _change_address(call: Call, *, replace: bool) -> Response:
    address = find_address(call)
    data = {k: v for k, v in call.body_object().items() if k not in _ADDRESS_OWNED}
    if data.get("AddressType", address["AddressType"]) not in (1, 2):
        raise invalid("AddressType must be 1 (invoice) or 2 (shipping).")
    if replace:
        kept = {k: address[k] for k in _ADDRESS_OWNED}
        address.clear()
        address.update({"AddressType": 1, **data, **kept})
    else:
        address.update(data)
    return ok({k: v for k, v in address.items() if v is not None})


def update_address(call: Call) -> Response:
    """PUT .../addresses/{id}: replaces the address."""
    return _change_address(call, replace=True)


def patch_address(call: Call) -> Response:
    """PATCH /customers/addresses/{id}: changes the given fields, which must be fields of
    an address (a JSON object of them, as both SDKs send: a field -> value map)."""
    unknown = sorted(set(call.body_object()) - ADDRESS_FIELDS)
    if unknown:
        raise invalid(f"These fields cannot be patched: {', '.join(unknown)}")
    return _change_address(call, replace=False)


def list_all_addresses(call: Call) -> Response:
    """GET /customer-addresses."""
    page, size = call.paging()
    return paged([a for _, a in sorted(call.state.addresses.items())], page, size)


def list_customer_orders(call: Call) -> Response:
    """GET /customers/{id}/orders: the short order rows of one customer."""
    customer = find_customer(call)
    page, size = call.paging()
    rows = [
        {
            "Id": order["BillBeeOrderId"],
            "ExternalId": order["Id"],
            "CreatedAt": order["CreatedAt"],
            "OrderStateId": order["State"],
            "OrderStateText": ORDER_STATES[order["State"]],
            "TotalGross": order["TotalCost"],
            "ShopName": order["Seller"].get("BillbeeShopName", ""),
            "HasInvoice": "InvoiceNumber" in order,
        }
        for _, order in sorted(call.state.orders.items())
        if order.get("Customer", {}).get("Id") == customer["Id"]
    ]
    return paged(rows, page, size)


def handlers() -> dict[str, Handler]:
    """The customer and address operations this module implements."""
    return {
        "customers.list": list_customers,
        "customers.get": get_customer,
        "customers.create": create_customer,
        "customers.update": update_customer,
        "customers.list_addresses": list_customer_addresses,
        "customers.add_address": add_customer_address,
        "customers.get_address": get_address,
        "customers.update_address": update_address,
        "customers.patch_address": patch_address,
        "customers.list_orders": list_customer_orders,
        "customer_addresses.list": list_all_addresses,
        "customer_addresses.create": create_address,
        "customer_addresses.get": get_address,
        "customer_addresses.update": update_address,
    }
