"""Fixtures for the worker tests: tenants straight in the database."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from billhive.db import Database
from billhive.tenants.models import Tenant, TenantStatus


@pytest.fixture
def make_tenant(db: Database) -> Callable[..., int]:
    """Create a tenant row (no credentials) and return its id."""
    counter = iter(range(1, 1_000_000))

    def make(status: TenantStatus = TenantStatus.ACTIVE, name: str | None = None) -> int:
        n = next(counter)
        with db.session() as session:
            tenant = Tenant(
                display_name=name or f"Shop {n}",
                contact_email=f"owner{n}@example.com",
                status=status,
            )
            session.add(tenant)
            session.flush()
            return tenant.id

    return make


@pytest.fixture
def db_session(db: Database) -> Session:
    """A session on the test database (closed by the db fixture's cleanup)."""
    return db.sessionmaker()
