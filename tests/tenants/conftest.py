"""Fixtures of the tenant tests: a vault on the test secrets and a fast way to add tenants."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import utcnow
from billhive.tenants.contact import seal_contact_email
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.vault import Vault

#: A password that satisfies every Billbee rule (test data, not a real secret).
GOOD_PASSWORD = "Tr1cky!Sample#42"


@pytest.fixture
def good_password() -> str:
    """A password that meets every Billbee rule."""
    return GOOD_PASSWORD


@pytest.fixture
def vault(settings: Settings) -> Vault:
    """The vault of the test settings (keyring with one key, ``dev1``)."""
    return Vault.from_settings(settings)


@pytest.fixture
def blind_key() -> bytes:
    """A blind-index key for vaults built by hand."""
    return os.urandom(32)


TenantFactory = Callable[..., Tenant]


@pytest.fixture
def make_tenant(session: Session) -> TenantFactory:
    """Store a tenant with sealed credentials directly (no Billbee call)."""
    counter = iter(range(1, 1_000_000))

    def make(
        vault: Vault,
        username: str | None = None,
        password: str = GOOD_PASSWORD,
        status: TenantStatus = TenantStatus.ACTIVE,
    ) -> Tenant:
        n = next(counter)
        username = username or f"merchant{n}@shop.example"
        tenant = Tenant(
            display_name=f"Shop {n}",
            username_index=vault.blind_index(username),
            status=status,
            invoice_creation_allowed=False,
            created_at=utcnow(),
            updated_at=utcnow(),
        )
        session.add(tenant)
        session.flush()
        sealed = vault.seal(tenant.id, username, password)
        credentials = TenantCredentials(tenant_id=tenant.id, **sealed._asdict())
        session.add(credentials)
        seal_contact_email(vault, tenant, credentials, f"owner{n}@shop.example")
        session.commit()
        return tenant

    return make
