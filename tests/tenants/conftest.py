"""Fixtures of the tenant tests: a vault on the test secrets and a fast way to add tenants."""

from __future__ import annotations

import os
from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session
from support.factories import add_tenant

from billhive.config import Settings
from billhive.tenants.models import Tenant, TenantStatus
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

    def make(
        vault: Vault,
        username: str | None = None,
        password: str = GOOD_PASSWORD,
        status: TenantStatus = TenantStatus.ACTIVE,
    ) -> Tenant:
        tenant = add_tenant(
            session,
            vault,
            status=status,
            username=username,
            password=password,
            claim_username=True,
            invoice_creation_allowed=False,
        )
        session.commit()
        return tenant

    return make
