"""The client against the Billbee sandbox over real HTTP: auth, data, paging, throttling."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.fake_billbee import ThreadedServer

from billhive.billbee.client import BillbeeClient
from billhive.billbee.errors import (
    ApiError,
    ConnectionDropped,
    CredentialsRejected,
    InvalidRequest,
    NotFound,
    ProxyError,
    ServerError,
    Throttled,
    TransportError,
)
from billhive.billbee.limits import DEFAULT_RETRY_AFTER_SECONDS, ENDPOINT_LIMIT
from billhive.sandbox import create_sandbox_app

API_KEY = "client-test-key"
SHOP: dict[str, Any] = {
    "id": 21,
    "name": "Client Test Shop",
    "username": "shop@client.test",
    "employees": ["packer.client"],
    "password": "ClientShop#2025",
    "invoice_creation_allowed": True,
}
NO_INVOICES: dict[str, Any] = {
    "id": 22,
    "username": "plain@client.test",
    "password": "PlainShop#2025x",
}
API_OFF: dict[str, Any] = {
    "id": 23,
    "username": "off@client.test",
    "password": "OffShop#2025xyz",
    "api_enabled": False,
}
ACCOUNTS = [SHOP, NO_INVOICES, API_OFF]


def _serve(**options: Any) -> ThreadedServer:
    options.setdefault("api_keys", [API_KEY])
    options.setdefault("accounts", ACCOUNTS)
    return ThreadedServer(create_sandbox_app(**options))


@pytest.fixture(scope="module")
def sandbox_url() -> Iterator[str]:
    """An unthrottled sandbox shared by the functional tests of this module."""
    server = _serve(throttle=False)
    yield server.url + "/api/v1"
    server.stop()


@pytest.fixture
def connect(sandbox_url: str) -> Iterator[Callable[..., BillbeeClient]]:
    """Clients for an account of the shared sandbox (closed after the test)."""
    made: list[BillbeeClient] = []

    def build(account: dict[str, Any] = SHOP, **overrides: Any) -> BillbeeClient:
        client = BillbeeClient(
            overrides.get("api_key", API_KEY),
            overrides.get("username", account["username"]),
            overrides.get("password", account["password"]),
            base_url=overrides.get("base_url", sandbox_url),
            timeout=10.0,
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


# -- credentials ------------------------------------------------------------------------


def test_verify_credentials_accepts_the_main_username(
    connect: Callable[..., BillbeeClient],
) -> None:
    connect().verify_credentials()


def test_verify_credentials_accepts_an_employee_username_with_the_shared_password(
    connect: Callable[..., BillbeeClient],
) -> None:
    connect(username="packer.client").verify_credentials()


def test_a_wrong_password_is_credentials_rejected(connect: Callable[..., BillbeeClient]) -> None:
    with pytest.raises(CredentialsRejected) as caught:
        connect(password="Wrong#Password2025").verify_credentials()
    assert caught.value.status_code == 401


def test_an_unknown_api_key_is_credentials_rejected(connect: Callable[..., BillbeeClient]) -> None:
    with pytest.raises(CredentialsRejected):
        connect(api_key="not-a-known-key").verify_credentials()


def test_api_access_switched_off_is_api_not_activated(
    connect: Callable[..., BillbeeClient],
) -> None:
    with pytest.raises(ApiError) as caught:
        connect(API_OFF).verify_credentials()
    assert caught.value.error_name == "ApiNotActivated"


# -- data -------------------------------------------------------------------------------


def test_iter_items_walks_every_order_the_paging_announces(
    connect: Callable[..., BillbeeClient],
) -> None:
    client = connect()
    first = client.orders.list(page=1, page_size=2)
    assert first.paging is not None
    orders = list(client.iter_items("orders.list", page_size=2))
    assert len(orders) == first.paging.total_rows
    assert len({o["BillBeeOrderId"] for o in orders}) == len(orders)


def test_an_order_can_be_read_and_its_state_changed(connect: Callable[..., BillbeeClient]) -> None:
    client = connect()
    order_id = client.orders.list(page_size=1).data[0]["BillBeeOrderId"]
    client.orders.update_state({"NewStateId": 3}, id=order_id)
    assert client.orders.get(id=order_id).data["State"] == 3


def test_a_missing_order_is_not_found(connect: Callable[..., BillbeeClient]) -> None:
    with pytest.raises(NotFound):
        connect().orders.get(id=1)


def test_stock_is_set_to_the_absolute_quantity(connect: Callable[..., BillbeeClient]) -> None:
    client = connect()
    sku = client.products.list(page_size=1).data[0]["SKU"]
    client.products.update_stock({"Sku": sku, "NewQuantity": 17, "DeltaQuantity": 5})
    product = client.products.get(id=sku, lookup_by="sku").data
    assert product["StockCurrent"] == 17


def test_a_bad_stock_update_is_an_invalid_request_with_the_sandboxs_message(
    connect: Callable[..., BillbeeClient],
) -> None:
    with pytest.raises(InvalidRequest, match="Sku or BillbeeId"):
        connect().products.update_stock({"NewQuantity": 1})


def test_invoice_creation_not_allowed_is_an_api_error_with_its_name(
    connect: Callable[..., BillbeeClient],
) -> None:
    client = connect(NO_INVOICES)
    order_id = client.orders.list(page_size=1).data[0]["BillBeeOrderId"]
    with pytest.raises(ApiError) as caught:
        client.orders.create_invoice(id=order_id)
    assert caught.value.error_name == "CantCreateInvoice"


def test_an_operation_the_sandbox_lacks_is_a_server_error(
    connect: Callable[..., BillbeeClient],
) -> None:
    from billhive.sandbox.app import implemented_operations

    assert "orders.parse_placeholders" not in implemented_operations()
    with pytest.raises(ServerError) as caught:
        connect().orders.parse_placeholders({"TextToParse": "[OrderNumber]"}, id=1)
    assert caught.value.status_code == 501


def test_webhooks_answer_bare_models_the_client_passes_through(
    connect: Callable[..., BillbeeClient],
) -> None:
    client = connect()
    created = client.webhooks.create(
        {"WebHookUri": "https://example.test/hook", "Secret": "s" * 32, "Filters": ["*"]}
    )
    assert client.webhooks.get(id=created.data["Id"]).data["WebHookUri"] == (
        "https://example.test/hook"
    )


# -- throttling -------------------------------------------------------------------------


@pytest.fixture
def throttled_sandbox() -> Iterator[Callable[..., str]]:
    """Fresh throttled sandboxes (their windows start empty); stopped after the test."""
    servers: list[ThreadedServer] = []

    def start(**options: Any) -> str:
        servers.append(_serve(**options))
        return servers[-1].url + "/api/v1"

    yield start
    for server in servers:
        server.stop()


def _overrun_endpoint(client: BillbeeClient) -> Throttled:
    for _ in range(ENDPOINT_LIMIT):
        client.customers.list()
    with pytest.raises(Throttled) as caught:
        client.customers.list()
    return caught.value


def test_a_third_call_in_one_second_is_throttled_with_retry_after(
    throttled_sandbox: Callable[..., str], connect: Callable[..., BillbeeClient]
) -> None:
    error = _overrun_endpoint(connect(base_url=throttled_sandbox()))
    assert error.retry_after_was_sent is True
    assert 0 < error.retry_after <= 1


def test_a_429_without_retry_after_uses_the_fallback(
    throttled_sandbox: Callable[..., str], connect: Callable[..., BillbeeClient]
) -> None:
    error = _overrun_endpoint(connect(base_url=throttled_sandbox(send_retry_after=False)))
    assert error.retry_after_was_sent is False
    assert error.retry_after == DEFAULT_RETRY_AFTER_SECONDS


# -- the way to Billbee failing, against the sandbox's fault knobs ------------------------


@pytest.fixture
def faulty(throttled_sandbox: Callable[..., str]) -> Iterator[tuple[str, Callable[..., None]]]:
    """An unthrottled sandbox of its own and a way to set SHOP's fault shares."""
    import httpx

    url = throttled_sandbox(throttle=False)

    def set_faults(**spec: float) -> None:
        response = httpx.put(f"{url}/_sandbox/accounts/{SHOP['id']}/faults", json=spec)
        assert response.status_code == 200, response.text

    yield url, set_faults


@pytest.mark.parametrize(
    ("fault", "status", "reached"),
    [("bad_gateway_rate", 502, True), ("unavailable_rate", 503, False)],
)
def test_the_proxys_pages_become_proxy_errors(
    faulty: tuple[str, Callable[..., None]],
    connect: Callable[..., BillbeeClient],
    fault: str,
    status: int,
    reached: bool,
) -> None:
    url, set_faults = faulty
    set_faults(**{fault: 1.0})
    with pytest.raises(ProxyError) as caught:
        connect(base_url=url).orders.list()
    assert caught.value.status_code == status
    assert caught.value.may_have_reached_server is reached


def test_a_connection_reset_mid_body_becomes_connection_dropped(
    faulty: tuple[str, Callable[..., None]], connect: Callable[..., BillbeeClient]
) -> None:
    url, set_faults = faulty
    set_faults(reset_rate=1.0)
    with pytest.raises(ConnectionDropped):
        connect(base_url=url).orders.list()


def test_a_timeout_becomes_a_transport_error_that_may_have_reached_billbee(
    faulty: tuple[str, Callable[..., None]], connect: Callable[..., BillbeeClient]
) -> None:
    url, set_faults = faulty
    set_faults(timeout_rate=1.0, timeout_seconds=1.5)
    client = BillbeeClient(API_KEY, SHOP["username"], SHOP["password"], base_url=url, timeout=0.3)
    with client, pytest.raises(TransportError) as caught:
        client.orders.list()
    assert caught.value.may_have_reached_server is True
