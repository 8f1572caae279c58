"""Fixtures for the client tests: a fake Billbee over real HTTP and clients against it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.fake_billbee import (
    API_KEY,
    PASSWORD,
    USERNAME,
    FakeBillbee,
    ThreadedServer,
    create_fake_app,
)

from billhive.billbee.client import BillbeeClient


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeBillbee]:
    """One running fake Billbee per test module."""
    fake = FakeBillbee()
    server = ThreadedServer(create_fake_app(fake))
    fake.url = server.url
    yield fake
    server.stop()


@pytest.fixture
def fake_billbee(fake_server: FakeBillbee) -> FakeBillbee:
    """The fake, with no recorded requests and its normal answers."""
    fake_server.requests.clear()
    fake_server.canned = None
    return fake_server


@pytest.fixture
def client_factory(fake_billbee: FakeBillbee) -> Iterator[Callable[..., BillbeeClient]]:
    """Build clients against the fake (right credentials unless overridden); closed after."""
    made: list[BillbeeClient] = []

    def build(**overrides: Any) -> BillbeeClient:
        args: dict[str, Any] = {
            "api_key": API_KEY,
            "username": USERNAME,
            "password": PASSWORD,
            "base_url": fake_billbee.base_url,
            "timeout": 5.0,
        }
        args.update(overrides)
        client = BillbeeClient(
            args.pop("api_key"), args.pop("username"), args.pop("password"), **args
        )
        made.append(client)
        return client

    yield build
    for client in made:
        client.close()


@pytest.fixture
def billbee(client_factory: Callable[..., BillbeeClient]) -> BillbeeClient:
    """A client with the right credentials against the fake."""
    return client_factory()
