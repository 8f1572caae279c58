"""The signed send job (billhive/delivery/send.py) in a worker process's runtime."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask, request
from support.factories import add_tenant
from support.sealed import store_payload

from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.delivery.models import CallbackDelivery
from billhive.delivery.send import deliver_callback
from billhive.delivery.signing import new_salt
from billhive.tenants.vault import Vault
from billhive.tokens.models import ApiToken
from billhive.workers.models import Call, CallStatus
from billhive.workers.runtime import Runtime, set_runtime


@pytest.fixture
def runtime(settings_factory: Callable[..., Settings], db: Database) -> Iterator[Runtime]:
    """A worker's runtime; loopback receivers allow-listed (as for a private network)."""
    rt = Runtime.from_settings(settings_factory(callback_allowed_networks="127.0.0.0/8"))
    set_runtime(rt)
    yield rt
    set_runtime(None)
    rt.close()


@pytest.fixture
def receiver(live_server_factory: Callable[[Any], Any]) -> tuple[list[Any], str]:
    """A live callback receiver; returns the bodies it got and its URL."""
    bodies: list[Any] = []
    app = Flask("receiver")

    @app.post("/hook")
    def hook() -> tuple[str, int]:
        bodies.append(json.loads(request.get_data()))
        return "", 200

    return bodies, f"{live_server_factory(app).url}/hook"


def _call_delivery(rt: Runtime, url: str) -> int:
    """A finished call with a sealed result, and its delivery to a token's callback."""
    with rt.database.session() as session:
        tenant = add_tenant(session, rt.vault)
        call = Call(tenant_id=tenant.id, operation="orders.get", status=CallStatus.SUCCEEDED)
        session.add(call)
        store_payload(session, rt.vault, call, params={"id": 7}, result={"Data": {"Id": 7}})
        token = ApiToken(
            public_id=new_salt()[:16],
            secret_hash="0" * 64,
            name="hook",
            callback_url=url,
            callback_salt=new_salt(),
            callback_registered_at=utcnow(),
        )
        session.add(token)
        session.flush()
        delivery = CallbackDelivery(token_id=token.id, call_id=call.id, url=url)
        session.add(delivery)
        session.commit()
        return delivery.id


def test_the_send_job_opens_the_call_with_the_workers_vault_and_parses_no_keyring(
    runtime: Runtime, receiver: tuple[list[Any], str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bodies, url = receiver
    delivery_id = _call_delivery(runtime, url)
    built: list[str] = []
    original = Vault.from_settings

    def counted(settings: Settings) -> Vault:
        built.append("vault")  # a mark, not the settings: test output shows no secrets
        return original(settings)

    monkeypatch.setattr(Vault, "from_settings", staticmethod(counted))
    assert deliver_callback(delivery_id) == "delivered"
    assert built == []  # the runtime's vault opened the call: no keyring parsed per send
    [body] = bodies
    assert body["call"]["result"] == {"Data": {"Id": 7}}
