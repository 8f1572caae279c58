"""The credentials never show up in repr(), error messages or logs."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable

import pytest
from support.fake_billbee import API_KEY, PASSWORD, USERNAME, FakeBillbee

from billhive.billbee.client import BillbeeClient
from billhive.billbee.errors import BillbeeError

AUTH_TOKEN = base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
SECRETS = (PASSWORD, AUTH_TOKEN, API_KEY, USERNAME)


def _assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


def test_the_client_repr_and_str_hold_no_credentials(billbee: BillbeeClient) -> None:
    _assert_no_secret(repr(billbee))
    _assert_no_secret(str(billbee))
    _assert_no_secret(repr(billbee.orders) + repr(billbee.orders.list))


# Each answer of the fake that makes the client raise, one per error class; Billbee's
# message echoes the credentials back to prove they are scrubbed from what we pass on.
ECHO = f"user {USERNAME} with password {PASSWORD} and key {API_KEY}"
FAILURES: list[tuple[int, object, dict[str, str], float]] = [
    (401, {"Message": ECHO}, {}, 0.0),
    (403, {"Message": ECHO}, {}, 0.0),
    (404, {"Message": ECHO}, {}, 0.0),
    (400, {"ErrorMessage": ECHO}, {}, 0.0),
    (429, {"Message": ECHO}, {"Retry-After": "2"}, 0.0),
    (429, {"Message": ECHO}, {}, 0.0),
    (500, {"Message": ECHO}, {}, 0.0),
    (200, {"ErrorCode": 3, "ErrorMessage": ECHO}, {}, 0.0),
    (200, {"ErrorCode": 0}, {}, 1.5),  # read timeout
]


@pytest.mark.parametrize("failure", FAILURES, ids=lambda f: f"{f[0]}-{len(f[2])}-{f[3]}")
def test_every_error_is_free_of_credentials(
    client_factory: Callable[..., BillbeeClient],
    fake_billbee: FakeBillbee,
    failure: tuple[int, object, dict[str, str], float],
) -> None:
    status, body, headers, delay = failure
    fake_billbee.respond(status, body, headers=headers, delay=delay)
    with pytest.raises(BillbeeError) as caught:
        client_factory(timeout=0.5).orders.list()
    error = caught.value
    _assert_no_secret(str(error))
    _assert_no_secret(repr(error))
    _assert_no_secret(repr(vars(error)))


def test_a_refused_connection_error_is_free_of_credentials(
    client_factory: Callable[..., BillbeeClient],
) -> None:
    with pytest.raises(BillbeeError) as caught:
        client_factory(base_url="http://127.0.0.1:1/api/v1").orders.list()
    _assert_no_secret(str(caught.value) + repr(caught.value))


def test_debug_logs_of_client_and_httpx_hold_no_credentials(
    billbee: BillbeeClient, fake_billbee: FakeBillbee, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    billbee.orders.list(page=1)
    billbee.orders.update_state({"NewStateId": 2}, id=3)
    fake_billbee.respond(401, {"Message": ECHO})
    with pytest.raises(BillbeeError):
        billbee.orders.list()
    assert "orders.list" in caplog.text  # the client does log its calls
    _assert_no_secret(caplog.text)
