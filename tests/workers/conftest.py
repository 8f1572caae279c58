"""Fixtures for the worker tests: tenants straight in the database."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.factories import add_tenant
from support.runtime import Account, sandbox_runtime, serve_sandbox, sign_up_account
from support.workers import ACCOUNTS, API_KEY, PASSWORD, account_username

from billhive.config import Settings
from billhive.db import Database
from billhive.tenants.models import TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.runtime import Runtime


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


def worker_account(n: int) -> Account:
    """Sandbox account ``n`` of the worker tests."""
    return Account(n, account_username(n), PASSWORD, f"Shop {n}")


@pytest.fixture
def sandbox(live_server_factory: Callable[[Any], Any]) -> Any:
    """A throttling sandbox with a few merchant accounts, served over HTTP."""
    return serve_sandbox(
        live_server_factory, API_KEY, [worker_account(n) for n in range(1, ACCOUNTS + 1)]
    )


@pytest.fixture
def runtime(
    settings_factory: Callable[..., Settings], sandbox: Any, db: Database
) -> Iterator[Runtime]:
    """The workers' runtime on the test database, Redis and sandbox (fast retries)."""
    yield from sandbox_runtime(settings_factory, sandbox, API_KEY)


@pytest.fixture
def signed_up(runtime: Runtime) -> Callable[[int], int]:
    """Sign up sandbox account ``n`` through the real service; returns the tenant id."""

    def sign(n: int) -> int:
        return sign_up_account(
            runtime, worker_account(n), display_name=f"Shop {n}", email=f"owner{n}@example.com"
        )

    return sign
