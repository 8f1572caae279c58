"""Fixtures for the worker tests: tenants straight in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.factories import add_tenant
from support.workers import ACCOUNTS, API_KEY, PASSWORD, account_username

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
def make_tenant(db: Database, vault: Vault) -> Callable[..., int]:
    """Create a tenant row with a data key (placeholder credentials); returns its id."""

    def make(status: TenantStatus = TenantStatus.ACTIVE, name: str | None = None) -> int:
        with db.session() as session:
            return add_tenant(session, vault, display_name=name, status=status).id

    return make


@pytest.fixture
def db_session(db: Database) -> Iterator[Session]:
    """A session on the test database, closed before the tables are emptied (an open
    transaction would make PostgreSQL's TRUNCATE wait for ever)."""
    session = db.sessionmaker()
    yield session
    session.close()


# -- end to end: the sandbox, a runtime pointing at it, signed-up tenants ----------------


@pytest.fixture
def sandbox(live_server_factory: Callable[[Any], Any]) -> Any:
    """A throttling sandbox with a few merchant accounts, served over HTTP."""
    app = create_sandbox_app(
        api_keys=[API_KEY],
        accounts=[
            {"id": n, "username": account_username(n), "password": PASSWORD, "name": f"Shop {n}"}
            for n in range(1, ACCOUNTS + 1)
        ],
    )
    return live_server_factory(app)


@pytest.fixture
def runtime(
    settings_factory: Callable[..., Settings], sandbox: Any, db: Database
) -> Iterator[Runtime]:
    """The workers' runtime on the test database, Redis and sandbox (fast retries)."""
    settings = settings_factory(
        billbee_base_url=sandbox.url + "/api/v1", billbee_api_key=API_KEY, billbee_timeout=2.0
    )
    rt = Runtime.from_settings(settings)
    rt.policy = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)
    set_runtime(rt)
    yield rt
    set_runtime(None)
    rt.close()


@pytest.fixture
def signed_up(runtime: Runtime) -> Callable[[int], int]:
    """Sign up sandbox account ``n`` through the real service; returns the tenant id."""

    def sign(n: int) -> int:
        request = SignupRequest(
            display_name=f"Shop {n}",
            contact_email=f"owner{n}@example.com",
            username=account_username(n),
            password=PASSWORD,
            invoice_creation_allowed=False,
        )
        with runtime.database.session() as session:
            tenant = sign_up(
                session, runtime.vault, request, verify=make_verifier(runtime.settings)
            )
            assert tenant.status is TenantStatus.ACTIVE
            return tenant.id

    return sign
