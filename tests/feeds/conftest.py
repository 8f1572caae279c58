"""Fixtures of the feed tests: a sandbox over HTTP, a runtime on it, signed-up tenants
(the harness is shared with the worker tests: support/runtime.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.factories import add_tenant
from support.feeds import FEED_API_KEY, FEED_PASSWORD, feed_username
from support.runtime import Account, sandbox_runtime, serve_sandbox, sign_up_account

from billhive.config import Settings
from billhive.db import Database
from billhive.tenants.vault import Vault
from billhive.workers.runtime import Runtime


def feed_account(n: int) -> Account:
    """Sandbox account ``n`` of the feed tests."""
    return Account(n, feed_username(n), FEED_PASSWORD, f"S{n}")


@pytest.fixture
def feed_sandbox(live_server_factory: Callable[[Any], Any]) -> Any:
    """A sandbox with three merchant accounts, served over HTTP."""
    return serve_sandbox(live_server_factory, FEED_API_KEY, [feed_account(n) for n in range(1, 4)])


@pytest.fixture
def feed_runtime(
    settings_factory: Callable[..., Settings], feed_sandbox: Any, db: Database
) -> Iterator[Runtime]:
    """The workers' runtime on the test database, Redis and sandbox."""
    yield from sandbox_runtime(settings_factory, feed_sandbox, FEED_API_KEY)


@pytest.fixture
def feed_tenant(feed_runtime: Runtime) -> Callable[[int], int]:
    """Sign up sandbox account ``n`` through the real service; returns the tenant id."""

    def sign(n: int) -> int:
        return sign_up_account(
            feed_runtime,
            feed_account(n),
            display_name=f"Feed shop {n}",
            email=f"feed{n}@example.com",
        )

    return sign


@pytest.fixture
def bare_tenant(db: Database, vault: Vault) -> Callable[[], int]:
    """A tenant row with placeholder credentials (for tests that never call Billbee)."""

    def make() -> int:
        with db.session() as session:
            tenant = add_tenant(session, vault)
            session.commit()
            return tenant.id

    return make
