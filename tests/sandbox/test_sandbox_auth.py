"""Authentication: API key, Basic credentials, API access switch."""

from __future__ import annotations

import httpx
from support.sandbox import DISABLED, MERCHANT, Sandbox, data_of


def test_a_call_without_an_api_key_is_rejected_with_401(sandbox: Sandbox) -> None:
    response = sandbox.client(api_key=None).get("/orders")
    assert response.status_code == 401


def test_a_call_with_an_unknown_api_key_is_rejected_with_401(sandbox: Sandbox) -> None:
    response = sandbox.client(api_key="not-a-known-key").get("/orders")
    assert response.status_code == 401


def test_a_call_with_a_wrong_password_is_rejected_with_401(sandbox: Sandbox) -> None:
    response = sandbox.client(password="Wrong#Password2025").get("/orders")
    assert response.status_code == 401


def test_a_call_with_an_unknown_username_is_rejected_with_401(sandbox: Sandbox) -> None:
    response = sandbox.client(username="nobody@example.com").get("/orders")
    assert response.status_code == 401


def test_a_call_without_basic_credentials_is_rejected_with_401(sandbox: Sandbox) -> None:
    response = httpx.get(
        f"{sandbox.url}/api/v1/orders", headers={"X-Billbee-Api-Key": "sandbox-test-key"}
    )
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_the_401_body_contains_no_credentials(sandbox: Sandbox) -> None:
    response = sandbox.client(password="Wrong#Password2025").get("/orders")
    assert MERCHANT["username"] not in response.text
    assert "Wrong#Password2025" not in response.text


def test_the_main_username_is_accepted(api: httpx.Client) -> None:
    assert isinstance(data_of(api.get("/orders")), list)


def test_an_employee_username_with_the_shared_password_is_accepted(sandbox: Sandbox) -> None:
    client = sandbox.client(username=MERCHANT["employees"][0])
    assert isinstance(data_of(client.get("/orders")), list)


def test_usernames_are_matched_case_insensitively(sandbox: Sandbox) -> None:
    client = sandbox.client(username=MERCHANT["username"].upper())
    assert client.get("/orders").status_code == 200


def test_an_account_without_api_access_gets_error_code_api_not_activated(sandbox: Sandbox) -> None:
    response = sandbox.client(DISABLED).get("/orders")
    assert response.status_code == 200
    assert response.json()["ErrorCode"] == 1
    assert response.json()["Data"] is None


def test_switching_api_access_on_lets_the_account_in(sandbox: Sandbox) -> None:
    sandbox.control.patch(f"/accounts/{DISABLED['id']}", json={"api_enabled": True})
    assert data_of(sandbox.client(DISABLED).get("/orders"))
