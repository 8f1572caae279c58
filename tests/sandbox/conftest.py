"""Sandbox fixtures: a sandbox served over real HTTP and httpx clients for it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from support.sandbox import API_KEY, DISABLED, MERCHANT, NO_INVOICES, Sandbox

from billhive.sandbox import create_sandbox_app


@pytest.fixture
def sandbox_factory(live_server_factory: Callable[[Any], Any]) -> Iterator[Callable[..., Sandbox]]:
    """Start sandboxes with options of create_sandbox_app (our three accounts by default)."""
    started: list[Sandbox] = []

    def build(**options: Any) -> Sandbox:
        options.setdefault("api_keys", [API_KEY])
        options.setdefault("accounts", [MERCHANT, NO_INVOICES, DISABLED])
        app = create_sandbox_app(**options)
        sandbox = Sandbox(live_server_factory(app).url, app)
        started.append(sandbox)
        return sandbox

    yield build
    for sandbox in started:
        for client in sandbox.clients:
            client.close()


@pytest.fixture
def sandbox(sandbox_factory: Callable[..., Sandbox]) -> Sandbox:
    """A sandbox with its throttle off (functional tests make calls in quick succession)."""
    return sandbox_factory(throttle=False)


@pytest.fixture
def api(sandbox: Sandbox) -> httpx.Client:
    """MERCHANT's client on the unthrottled sandbox."""
    return sandbox.client()
