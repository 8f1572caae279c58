"""The sandbox delivers webhooks ASP.NET-WebHooks style (echo check, signed posts, loss
and delay knobs) and changes orders by itself at a set rate, logging every change."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from flask import Flask, request
from support.sandbox import Sandbox, bare

SECRET = "s" * 40


class Receiver:
    """A vendor-side receiver over HTTP that answers the echo and records posts."""

    def __init__(self, live_server_factory: Callable[[Any], Any], *, echo_ok: bool = True) -> None:
        self.posts: list[tuple[bytes, str | None]] = []
        self.echoes: list[str] = []
        self._lock = threading.Lock()
        app = Flask("receiver")

        @app.get("/hook")
        def echo() -> str:
            value = request.args.get("echo", "")
            self.echoes.append(value)
            return value if echo_ok else "nope"

        @app.post("/hook")
        def post() -> str:
            with self._lock:
                self.posts.append((request.get_data(), request.headers.get("ms-signature")))
            return "ok"

        self.url = live_server_factory(app).url + "/hook"

    def wait_for(self, count: int, timeout: float = 5.0) -> list[tuple[bytes, str | None]]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and len(self.posts) < count:
            time.sleep(0.02)
        return list(self.posts)


def _register(api: httpx.Client, url: str) -> httpx.Response:
    return api.post("/webhooks", json={"WebHookUri": url, "Secret": SECRET, "Filters": ["*"]})


def _first_order(api: httpx.Client) -> int:
    return int(api.get("/orders", params={"pageSize": 1}).json()["Data"][0]["BillBeeOrderId"])


@pytest.fixture
def receiver(live_server_factory: Callable[[Any], Any]) -> Receiver:
    return Receiver(live_server_factory)


def test_a_state_change_is_posted_signed_after_the_echo_check(
    sandbox: Sandbox, api: httpx.Client, receiver: Receiver
) -> None:
    assert sandbox.control.put("/webhooks", json={"deliver": True}).status_code == 200
    assert _register(api, receiver.url).status_code == 200
    assert len(receiver.echoes) == 1 and len(receiver.echoes[0]) >= 16

    order_id = _first_order(api)
    api.put(f"/orders/{order_id}/orderstate", json={"NewStateId": 3})
    [(body, signature)] = receiver.wait_for(1)
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert signature == expected
    payload = json.loads(body)
    assert set(payload) == {"Id", "Attempt", "Properties", "Notifications"}
    assert payload["Attempt"] == 1
    assert payload["Notifications"] == [
        {"Action": "OrderStateChanged", "OrderId": order_id, "NewStateId": 3}
    ]
    [change] = sandbox.control.get("/changes").json()["items"]
    assert (change["order_id"], change["state"], change["source"]) == (order_id, 3, "api")


def test_a_url_that_fails_the_echo_check_is_not_registered(
    sandbox: Sandbox, api: httpx.Client, live_server_factory: Callable[[Any], Any]
) -> None:
    sandbox.control.put("/webhooks", json={"deliver": True})
    bad = Receiver(live_server_factory, echo_ok=False)
    response = _register(api, bad.url)
    assert response.status_code == 400 and "echo" in response.text
    assert bare(api.get("/webhooks")) == []


def test_without_delivery_no_echo_and_no_post(
    sandbox: Sandbox, api: httpx.Client, receiver: Receiver
) -> None:
    assert _register(api, receiver.url).status_code == 200
    api.put(f"/orders/{_first_order(api)}/orderstate", json={"NewStateId": 2})
    time.sleep(0.3)
    assert receiver.echoes == [] and receiver.posts == []


def test_lost_webhooks_are_counted_and_never_posted(
    sandbox: Sandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sandbox.control.put("/webhooks", json={"deliver": True, "loss": 1.0})
    _register(api, receiver.url)
    api.put(f"/orders/{_first_order(api)}/orderstate", json={"NewStateId": 2})
    time.sleep(0.3)
    assert receiver.posts == []
    assert sandbox.control.get("/webhooks").json()["lost"] == 1


def test_a_delay_holds_the_post_back(
    sandbox: Sandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sandbox.control.put("/webhooks", json={"deliver": True, "delay_ms": 600})
    _register(api, receiver.url)
    api.put(f"/orders/{_first_order(api)}/orderstate", json={"NewStateId": 2})
    time.sleep(0.3)
    assert receiver.posts == []
    assert len(receiver.wait_for(1)) == 1


def test_the_generator_changes_orders_at_its_rate_and_logs_them(
    sandbox: Sandbox, api: httpx.Client, receiver: Receiver
) -> None:
    sandbox.control.put("/webhooks", json={"deliver": True})
    _register(api, receiver.url)
    response = sandbox.control.put("/changes/generator", json={"per_account_per_minute": 600})
    assert response.status_code == 200
    time.sleep(1.5)
    sandbox.control.put("/changes/generator", json={"per_account_per_minute": 0})
    changes = sandbox.control.get("/changes").json()["items"]
    mine = [c for c in changes if c["account_id"] == 7]
    # 10 a second for 1.5 s on average: far from none, far from hundreds.
    assert 3 <= len(mine) <= 40
    assert all(c["source"] == "generator" for c in mine)
    # Every change of the account with a webhook was posted.
    assert len(receiver.wait_for(len(mine))) == len(mine)
    changed = {c["order_id"] for c in mine}
    orders = {o["BillBeeOrderId"]: o for o in api.get("/orders").json()["Data"]}
    assert changed <= set(orders)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/webhooks", {"loss": 2}),
        ("/webhooks", {"deliver": "yes"}),
        ("/webhooks", {"lose": 0.1}),
        ("/changes/generator", {"per_account_per_minute": -1}),
        ("/changes/generator", {"rate": 1}),
    ],
)
def test_bad_knobs_are_refused_by_name(sandbox: Sandbox, path: str, body: dict[str, Any]) -> None:
    response = sandbox.control.put(path, json=body)
    assert response.status_code == 400 and response.json()["error"]
