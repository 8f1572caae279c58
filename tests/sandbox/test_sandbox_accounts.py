"""Accounts, API keys and the seed file; the control API's account endpoints."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from support.sandbox import MERCHANT, ManualClock, Sandbox, data_of

from billhive.sandbox import SeedError, demo_accounts, load_seed_file
from billhive.sandbox.accounts import Account, AccountRegistry
from billhive.sandbox.runtime import SandboxRuntime

SHOP = {"username": "seeded@example.com", "password": "Seeded#Pass2025", "name": "Seeded Shop"}


def _seed_file(tmp_path: Path, content: object) -> str:
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(content), encoding="utf-8")
    return str(path)


def test_a_seed_file_adds_keys_and_accounts(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    seed = _seed_file(tmp_path, {"api_keys": ["file-key"], "accounts": [SHOP]})
    sandbox = sandbox_factory(api_keys=[], accounts=[], seed_file=seed, throttle=False)
    client = sandbox.client(
        username=SHOP["username"], password=SHOP["password"], api_key="file-key"
    )
    assert data_of(client.get("/orders"))


def test_accounts_without_an_id_get_the_next_free_one(tmp_path: Path) -> None:
    other = {**SHOP, "username": "other@example.com", "name": "Other"}
    _, accounts = load_seed_file(_seed_file(tmp_path, {"accounts": [{**SHOP, "id": 5}, other]}))
    assert [a.id for a in AccountRegistry([], accounts).all()] == [5, 6]


def test_a_seed_file_that_is_not_json_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "seed.json"
    path.write_text("{nope", encoding="utf-8")
    with pytest.raises(SeedError, match="not JSON"):
        load_seed_file(path)


def test_a_missing_seed_file_is_reported(tmp_path: Path) -> None:
    with pytest.raises(SeedError, match="cannot read"):
        load_seed_file(tmp_path / "missing.json")


def test_an_account_without_an_email_username_is_refused(tmp_path: Path) -> None:
    seed = _seed_file(tmp_path, {"accounts": [{**SHOP, "username": "nobody"}]})
    with pytest.raises(SeedError, match="'username' must be an e-mail"):
        load_seed_file(seed)


def test_a_password_with_a_colon_is_refused() -> None:
    with pytest.raises(SeedError, match="password"):
        Account.from_dict({**SHOP, "password": "a:b"})


def test_two_accounts_with_one_username_are_refused(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    with pytest.raises(SeedError, match="used twice"):
        sandbox_factory(accounts=[SHOP, {**SHOP, "name": "Copy"}])


def test_an_accounts_repr_shows_no_credentials() -> None:
    account = Account.from_dict(SHOP)
    assert SHOP["username"] not in repr(account) and SHOP["password"] not in repr(account)


def test_demo_accounts_have_credentials_to_print() -> None:
    demo = demo_accounts()
    assert demo[0].username.endswith("@billhive.test") and len(demo[0].password) >= 12


def test_the_control_api_lists_accounts_without_credentials(sandbox: Sandbox) -> None:
    listing = sandbox.control.get("/accounts").json()
    assert [a["id"] for a in listing] == [7, 8, 9]
    assert MERCHANT["username"] not in str(listing) and MERCHANT["password"] not in str(listing)


def test_the_control_api_adds_an_account(sandbox: Sandbox) -> None:
    created = sandbox.control.post("/accounts", json=SHOP)
    assert created.status_code == 201 and created.json()["id"] == 10
    client = sandbox.client(username=SHOP["username"], password=SHOP["password"])
    assert client.get("/orders").status_code == 200


def test_the_control_api_refuses_a_malformed_account(sandbox: Sandbox) -> None:
    response = sandbox.control.post("/accounts", json={"username": "x"})
    assert response.status_code == 400
    assert "username" in response.json()["error"]


def test_the_control_api_adds_an_api_key(sandbox: Sandbox) -> None:
    sandbox.control.post("/api-keys", json={"api_key": "second-key"})
    assert sandbox.client(api_key="second-key").get("/orders").status_code == 200


def test_invoice_creation_can_be_switched_off_through_the_control_api(sandbox: Sandbox) -> None:
    sandbox.control.patch(f"/accounts/{MERCHANT['id']}", json={"invoice_creation_allowed": False})
    api = sandbox.client()
    order_id = data_of(api.get("/orders"))[0]["BillBeeOrderId"]
    assert api.post(f"/orders/CreateInvoice/{order_id}").json()["ErrorCode"] == 4


def test_the_throttle_can_be_switched_off_at_run_time(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    sandbox.control.patch("/settings", json={"throttle": False})
    statuses = {sandbox.client().get("/orders").status_code for _ in range(4)}
    assert statuses == {200}


def test_state_survives_a_restart_with_a_state_file(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    state_file = str(tmp_path / "state.json")
    first = sandbox_factory(throttle=False, state_file=state_file).client()
    order = data_of(first.post("/orders", json={"OrderNumber": "KEEP-1"}))
    second = sandbox_factory(throttle=False, state_file=state_file).client()
    assert data_of(second.get(f"/orders/{order['BillBeeOrderId']}"))["OrderNumber"] == "KEEP-1"


def test_an_unreadable_state_file_is_reported_by_name(
    sandbox_factory: Callable[..., Sandbox], tmp_path: Path
) -> None:
    state_file = tmp_path / "state.json"
    state_file.write_text("[{}]", encoding="utf-8")
    with pytest.raises(SeedError, match=r"state\.json is unreadable"):
        sandbox_factory(state_file=str(state_file))


def test_known_accounts_hold_their_data_before_the_first_call() -> None:
    accounts = [Account.from_dict({**SHOP, "id": 3}), *demo_accounts()]
    runtime = SandboxRuntime.build(AccountRegistry(["key"], accounts))
    assert all(account.id in runtime.store for account in accounts)


def test_an_account_added_later_gets_its_data_on_first_use() -> None:
    runtime = SandboxRuntime.build(AccountRegistry(["key"], []))
    late = Account.from_dict({**SHOP, "id": 9})
    runtime.registry.add(late)
    assert late.id not in runtime.store
    assert runtime.store.for_account(late).orders
    assert late.id in runtime.store
