"""Fixtures of the feed tests: a sandbox over HTTP, a runtime on it, signed-up tenants."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from support.factories import add_tenant
from support.feeds import FEED_API_KEY, FEED_PASSWORD, feed_username

from billhive.config import Settings
from billhive.db import Database
from billhive.sandbox import create_sandbox_app
from billhive.tenants.models import TenantStatus
from billhive.tenants.service import SignupRequest, sign_up
from billhive.tenants.vault import Vault
from billhive.tenants.verify import make_verifier
from billhive.workers.outcomes import RetryPolicy
from billhive.workers.runtime import Runtime, set_runtime


@pytest.fixture
def feed_sandbox(live_server_factory: Callable[[Any], Any]) -> Any:
    """A sandbox with three merchant accounts, served over HTTP."""
    app = create_sandbox_app(
        api_keys=[FEED_API_KEY],
        accounts=[
            {"id": n, "username": feed_username(n), "password": FEED_PASSWORD, "name": f"S{n}"}
            for n in range(1, 4)
        ],
    )
    return live_server_factory(app)


@pytest.fixture
def feed_runtime(
    settings_factory: Callable[..., Settings], feed_sandbox: Any, db: Database
) -> Iterator[Runtime]:
    """The workers' runtime on the test database, Redis and sandbox."""
    settings = settings_factory(
        billbee_base_url=feed_sandbox.url + "/api/v1",
        billbee_api_key=FEED_API_KEY,
        billbee_timeout=2.0,
    )
    rt = Runtime.from_settings(settings)
    rt.policy = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)
    set_runtime(rt)
    yield rt
    set_runtime(None)
    rt.close()


@pytest.fixture
def feed_tenant(feed_runtime: Runtime) -> Callable[[int], int]:
    """Sign up sandbox account ``n`` through the real service; returns the tenant id."""

    def sign(n: int) -> int:
        request = SignupRequest(
            display_name=f"Feed shop {n}",
            contact_email=f"feed{n}@example.com",
            username=feed_username(n),
            password=FEED_PASSWORD,
            invoice_creation_allowed=False,
        )
        with feed_runtime.database.session() as session:
            tenant = sign_up(
                session, feed_runtime.vault, request, verify=make_verifier(feed_runtime.settings)
            )
            assert tenant.status is TenantStatus.ACTIVE
            return tenant.id

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
