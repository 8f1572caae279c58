"""The client over real HTTP against a fake Billbee: requests it sends, answers it reads."""

from __future__ import annotations

import base64
import json
import socket
import warnings
from collections.abc import Callable
from typing import Any

import pytest
from support.fake_billbee import API_KEY, ORDER_COUNT, PASSWORD, USERNAME, FakeBillbee

from billhive import __version__
from billhive.billbee.client import BillbeeClient, DeprecatedOperationWarning
from billhive.billbee.errors import (
    ApiError,
    ConnectionDropped,
    CredentialsRejected,
    ErrorCode,
    InvalidCall,
    InvalidRequest,
    NotFound,
    ProxyError,
    ServerError,
    Throttled,
    TransportError,
    UnexpectedResponse,
)
from billhive.billbee.limits import DEFAULT_RETRY_AFTER_SECONDS

# -- what goes on the wire -------------------------------------------------------------


def test_every_call_sends_key_basic_auth_accept_and_user_agent(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    billbee.call("orders.list")
    headers = fake_billbee.requests[-1].headers
    token = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    assert headers["X-Billbee-Api-Key"] == API_KEY
    assert headers["Authorization"] == f"Basic {token}"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"] == f"billhive/{__version__}"


def test_a_custom_user_agent_replaces_the_default(
    client_factory: Callable[..., BillbeeClient], fake_billbee: FakeBillbee
) -> None:
    client_factory(user_agent="billhive-test/1").call("orders.list")
    assert fake_billbee.requests[-1].headers["User-Agent"] == "billhive-test/1"


def test_a_body_is_sent_as_json_with_its_content_type(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    billbee.call("orders.update_state", {"id": 12}, {"NewStateId": 3})
    sent = fake_billbee.requests[-1]
    assert (sent.method, sent.path) == ("PUT", "/api/v1/orders/12/orderstate")
    assert sent.headers["Content-Type"] == "application/json"
    assert json.loads(sent.body) == {"NewStateId": 3}


def test_a_call_without_body_sends_no_content_type(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    billbee.call("orders.get", {"id": 1})
    assert "Content-Type" not in fake_billbee.requests[-1].headers


def test_array_parameters_are_sent_as_indexed_keys_as_the_official_sdks_send_them(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    billbee.orders.list(shop_id=[1, 2], order_state_id=[3], exclude_tags=True)
    assert fake_billbee.requests[-1].query == [
        ("shopId[0]", "1"),
        ("shopId[1]", "2"),
        ("orderStateId[0]", "3"),
        ("excludeTags", "true"),
    ]


def test_a_deprecated_operation_warns_naming_what_to_use_instead(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    with pytest.warns(DeprecatedOperationWarning, match="customer_addresses.update"):
        billbee.customers.patch_address({"Zip": "1"}, id=5)
    assert fake_billbee.requests[-1].method == "PATCH"


def test_a_deprecated_parameter_warns_and_is_still_sent(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    with pytest.warns(DeprecatedOperationWarning, match="ApiAccountId"):
        billbee.orders.create({"OrderNumber": "A-1"}, shop_id=7)
    assert fake_billbee.requests[-1].query == [("shopId", "7")]


def test_a_current_operation_does_not_warn(billbee: BillbeeClient) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        billbee.customer_addresses.update({"Zip": "1"}, id=5)


def test_a_bulk_body_over_the_default_cap_is_refused_before_sending(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    labels = [{"OrderId": n, "ProviderId": 1, "ProductId": 1} for n in range(21)]
    with pytest.raises(InvalidCall, match="at most 20"):
        billbee.shipments.ship_with_label_multiple(labels)
    assert fake_billbee.requests == []


def test_a_bulk_cap_can_be_raised_per_operation(
    client_factory: Callable[..., BillbeeClient], fake_billbee: FakeBillbee
) -> None:
    client = client_factory(max_items={"orders.add_tags_multiple": 3})
    client.orders.add_tags_multiple({"OrderIds": [1, 2, 3], "Tags": ["x"]})
    with pytest.raises(InvalidCall, match="at most 3"):
        client.orders.add_tags_multiple({"OrderIds": [1, 2, 3, 4], "Tags": ["x"]})
    assert len(fake_billbee.requests) == 1


def test_path_parameters_are_url_encoded(billbee: BillbeeClient, fake_billbee: FakeBillbee) -> None:
    billbee.orders.find_by_ext_ref(ext_ref="A 1&2?x#y")
    assert fake_billbee.requests[-1].raw_uri == "/api/v1/orders/findbyextref/A%201%262%3Fx%23y"
    assert fake_billbee.requests[-1].query == []


@pytest.mark.parametrize(
    ("operation", "params"),
    [
        ("products.get_image", {"image_id": ".."}),
        ("products.get_product_image", {"product_id": 1, "image_id": ".."}),
        ("products.get", {"id": ".."}),
        ("products.get", {"id": "."}),
        ("products.get", {"id": "..."}),
        ("orders.find_by_ext_ref", {"ext_ref": "A-1/../../products/7"}),
        ("orders.find_by_ext_ref", {"ext_ref": "A\\..\\x"}),
        ("orders.find_by_ext_ref", {"ext_ref": "%2e%2e"}),
        ("orders.find_by_partner", {"id": "7", "partner": "x%2Fy"}),
        ("webhooks.get", {"id": "a\nb"}),
        ("orders.get", {"id": "1 OR 1"}),
        ("orders.get", {"id": 1.5}),
        ("orders.get", {"id": True}),
        ("orders.get", {"id": 2**64}),
    ],
)
def test_path_parameters_that_would_leave_their_segment_are_refused_before_sending(
    billbee: BillbeeClient, fake_billbee: FakeBillbee, operation: str, params: dict[str, Any]
) -> None:
    sent = len(fake_billbee.requests)
    with pytest.raises(InvalidCall) as refused:
        billbee.call(operation, params)
    assert refused.value.param in {"id", "imageId", "extRef", "partner"}
    assert refused.value.param in str(refused.value)
    assert len(fake_billbee.requests) == sent


def test_an_integer_path_parameter_may_be_digits_in_a_string(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    billbee.call("products.get_product_image", {"product_id": "12", "image_id": 34})
    assert fake_billbee.requests[-1].raw_uri == "/api/v1/products/12/images/34"


def test_resource_namespaces_call_the_named_operation(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    answer = billbee.products.update_stock({"Sku": "S-1", "NewQuantity": 4})
    sent = fake_billbee.requests[-1]
    assert (sent.method, sent.path) == ("POST", "/api/v1/products/updatestock")
    assert answer.data == {"Echo": "products/updatestock"}


def test_an_unknown_resource_or_action_is_an_attribute_error(billbee: BillbeeClient) -> None:
    with pytest.raises(AttributeError, match="invoices"):
        _ = billbee.invoices
    with pytest.raises(AttributeError, match=r"orders\.explode"):
        _ = billbee.orders.explode


def test_an_unknown_parameter_is_refused_before_sending(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    with pytest.raises(InvalidCall, match="pagesize"):
        billbee.orders.list(pagesize=3)
    assert fake_billbee.requests == []


def test_a_body_for_an_operation_without_one_is_refused(billbee: BillbeeClient) -> None:
    with pytest.raises(InvalidCall, match="takes no request body"):
        billbee.call("orders.get", {"id": 1}, {"x": 1})


def test_credentials_must_not_be_empty() -> None:
    with pytest.raises(ValueError, match="password"):
        BillbeeClient("k", "u", "", base_url="https://example.invalid/api/v1")


def test_the_base_url_must_be_http_or_https() -> None:
    with pytest.raises(ValueError, match="base_url"):
        BillbeeClient("k", "u", "p", base_url="ftp://example.invalid/api/v1")


# -- answers ---------------------------------------------------------------------------


def test_a_paged_answer_carries_data_and_paging(billbee: BillbeeClient) -> None:
    answer = billbee.orders.list(page=2, page_size=3)
    assert [o["BillBeeOrderId"] for o in answer.data] == [4, 5, 6]
    assert answer.paging is not None
    assert (answer.paging.page, answer.paging.total_pages, answer.paging.total_rows) == (2, 3, 7)


def test_iter_pages_walks_every_page_once(billbee: BillbeeClient) -> None:
    pages = list(billbee.iter_pages("orders.list", page_size=3))
    assert [p.paging.page for p in pages if p.paging] == [1, 2, 3]


def test_iter_items_yields_every_row_of_every_page(billbee: BillbeeClient) -> None:
    ids = [o["BillBeeOrderId"] for o in billbee.iter_items("orders.list", page_size=2)]
    assert ids == list(range(1, ORDER_COUNT + 1))


def test_iter_pages_refuses_a_page_size_above_250(billbee: BillbeeClient) -> None:
    with pytest.raises(InvalidCall, match="250"):
        next(billbee.iter_pages("orders.list", page_size=251))


def test_verify_credentials_returns_for_good_credentials(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    billbee.verify_credentials()
    assert fake_billbee.requests[-1].query == [("page", "1"), ("pageSize", "1")]


def test_verify_credentials_raises_credentials_rejected_for_a_wrong_password(
    client_factory: Callable[..., BillbeeClient],
) -> None:
    with pytest.raises(CredentialsRejected) as caught:
        client_factory(password="Wrong!Passw0rd#").verify_credentials()
    assert caught.value.status_code == 401


def test_verify_credentials_raises_api_not_activated_from_the_envelope(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(200, {"ErrorCode": 1, "ErrorMessage": "API not activated", "Data": None})
    with pytest.raises(ApiError) as caught:
        billbee.verify_credentials()
    assert caught.value.error_name == "ApiNotActivated"


# -- one error class per situation ----------------------------------------------------


@pytest.mark.parametrize("status", [401, 403])
def test_401_and_403_are_credentials_rejected(
    billbee: BillbeeClient, fake_billbee: FakeBillbee, status: int
) -> None:
    fake_billbee.respond(status, {"Message": "Authorization has been denied"})
    with pytest.raises(CredentialsRejected) as caught:
        billbee.orders.list()
    assert caught.value.status_code == status


def test_404_is_not_found(billbee: BillbeeClient, fake_billbee: FakeBillbee) -> None:
    fake_billbee.respond(404, {"Message": "No HTTP resource was found"})
    with pytest.raises(NotFound) as caught:
        billbee.orders.get(id=999)
    assert caught.value.operation == "orders.get"


def test_400_is_invalid_request_with_billbees_message(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(400, {"ErrorCode": 11, "ErrorMessage": "NewStateId is invalid"})
    with pytest.raises(InvalidRequest) as caught:
        billbee.orders.update_state({"NewStateId": 99}, id=1)
    assert caught.value.billbee_message == "NewStateId is invalid"
    assert "NewStateId is invalid" in str(caught.value)


def test_429_with_retry_after_carries_the_seconds_sent(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(429, {"Message": "Too many requests"}, headers={"Retry-After": "7"})
    with pytest.raises(Throttled) as caught:
        billbee.orders.list()
    assert caught.value.retry_after == 7.0
    assert caught.value.retry_after_was_sent is True


def test_429_without_retry_after_falls_back_to_the_documented_default(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(429, {"Message": "Too many requests"})
    with pytest.raises(Throttled) as caught:
        billbee.orders.list()
    assert caught.value.retry_after == DEFAULT_RETRY_AFTER_SECONDS
    assert caught.value.retry_after_was_sent is False


def test_500_is_a_server_error(billbee: BillbeeClient, fake_billbee: FakeBillbee) -> None:
    fake_billbee.respond(500, raw=b"<html>Internal Server Error</html>")
    with pytest.raises(ServerError) as caught:
        billbee.orders.list()
    assert caught.value.status_code == 500


def test_a_200_with_a_non_zero_error_code_is_an_api_error_with_its_name(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(200, {"ErrorCode": 3, "ErrorMessage": "Invoice not created"})
    with pytest.raises(ApiError) as caught:
        billbee.orders.create_invoice(id=5)
    assert caught.value.error_code == ErrorCode.InvoiceNotCreated
    assert caught.value.error_name == "InvoiceNotCreated"


def test_an_unnamed_error_code_gets_a_numbered_name(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(200, {"ErrorCode": 27, "ErrorMessage": ""})
    with pytest.raises(ApiError) as caught:
        billbee.orders.list()
    assert caught.value.error_name == "ErrorCode27"


def test_a_200_with_error_code_zero_but_an_error_message_is_an_api_error(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(200, {"ErrorCode": 0, "ErrorMessage": "Something failed", "Data": None})
    with pytest.raises(ApiError, match="Something failed"):
        billbee.orders.list()


def test_a_200_that_is_not_json_is_an_unexpected_response(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(200, raw=b"<html>maintenance</html>")
    with pytest.raises(UnexpectedResponse):
        billbee.orders.list()


def test_a_redirect_is_not_followed(billbee: BillbeeClient, fake_billbee: FakeBillbee) -> None:
    fake_billbee.respond(302, headers={"Location": "https://elsewhere.invalid/"})
    with pytest.raises(UnexpectedResponse) as caught:
        billbee.orders.list()
    assert caught.value.status_code == 302


def test_a_slow_answer_is_a_transport_error_that_may_have_reached_billbee(
    client_factory: Callable[..., BillbeeClient], fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(200, {"ErrorCode": 0}, delay=1.5)
    with pytest.raises(TransportError) as caught:
        client_factory(timeout=0.5).orders.create({"OrderNumber": "X"})
    assert caught.value.may_have_reached_server is True
    assert caught.value.status_code is None


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_refused_connection_is_a_transport_error_that_never_reached_billbee(
    client_factory: Callable[..., BillbeeClient],
) -> None:
    base_url = f"http://127.0.0.1:{_refused_port()}/api/v1"
    with pytest.raises(TransportError) as caught:
        client_factory(base_url=base_url).orders.list()
    assert caught.value.may_have_reached_server is False


def test_the_client_closes_as_a_context_manager(
    client_factory: Callable[..., BillbeeClient],
) -> None:
    client = client_factory()
    with client:
        client.orders.list()
    with pytest.raises(RuntimeError):
        client.orders.list()


def test_before_send_runs_once_per_request_before_it_reaches_the_server(
    client_factory: Callable[..., BillbeeClient], fake_billbee: FakeBillbee
) -> None:
    seen: list[int] = []
    client = client_factory(before_send=lambda: seen.append(len(fake_billbee.requests)))
    client.call("orders.list", {"page": 1})
    client.call("orders.list", {"page": 2})
    assert seen == [0, 1]


def test_before_send_does_not_run_for_a_call_refused_before_sending(
    client_factory: Callable[..., BillbeeClient],
) -> None:
    seen: list[str] = []
    client = client_factory(before_send=lambda: seen.append("sent"))
    with pytest.raises(InvalidCall):
        client.call("orders.get", {})
    assert seen == []


# -- the way to Billbee failing ---------------------------------------------------------

NGINX_PAGE = (
    "<html>\r\n<head><title>{0}</title></head>\r\n<body>\r\n<center><h1>{0}</h1></center>\r\n"
    "<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
)


@pytest.mark.parametrize(
    ("status", "title"), [(502, "502 Bad Gateway"), (504, "504 Gateway Time-out")]
)
def test_a_proxys_html_502_or_504_page_is_a_proxy_error_that_may_have_reached_billbee(
    billbee: BillbeeClient, fake_billbee: FakeBillbee, status: int, title: str
) -> None:
    fake_billbee.respond(
        status, raw=NGINX_PAGE.format(title).encode(), headers={"Content-Type": "text/html"}
    )
    with pytest.raises(ProxyError) as caught:
        billbee.orders.create({"OrderNumber": "A-1"})
    assert caught.value.status_code == status
    assert caught.value.may_have_reached_server is True
    assert "proxy" in str(caught.value) and "nginx" not in str(caught.value)


def test_a_proxys_html_503_page_never_reached_billbee_and_carries_its_retry_after(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    page = NGINX_PAGE.format("503 Service Temporarily Unavailable").encode()
    fake_billbee.respond(503, raw=page, headers={"Retry-After": "30"})
    with pytest.raises(ProxyError) as caught:
        billbee.orders.list()
    assert caught.value.may_have_reached_server is False
    assert caught.value.retry_after == 30.0
    assert isinstance(caught.value, ServerError)


def test_a_json_503_from_billbee_itself_is_a_plain_server_error(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(503, {"Message": "An error has occurred."})
    with pytest.raises(ServerError) as caught:
        billbee.orders.list()
    assert not isinstance(caught.value, ProxyError)
    assert "An error has occurred." in str(caught.value)


@pytest.mark.parametrize("status", [200, 500])
def test_an_answer_cut_mid_body_is_a_dropped_connection(
    billbee: BillbeeClient, fake_billbee: FakeBillbee, status: int
) -> None:
    fake_billbee.respond(
        status, {"ErrorCode": 0, "Data": [{"Id": n} for n in range(50)]}, cut_after=40
    )
    with pytest.raises(ConnectionDropped) as caught:
        billbee.orders.list()
    assert caught.value.may_have_reached_server is True
    assert caught.value.status_code is None


def test_a_200_whose_json_ends_early_but_whose_length_is_honest_is_unexpected(
    billbee: BillbeeClient, fake_billbee: FakeBillbee
) -> None:
    fake_billbee.respond(
        200, raw=b'{"ErrorCode": 0, "Data": [1, 2', headers={"Content-Type": "application/json"}
    )
    with pytest.raises(UnexpectedResponse):
        billbee.orders.list()
