"""Factories: rows straight into the database, stored the way the code stores them
(credentials and contact e-mail sealed with the tenant's data key). One place instead of
a builder per test package."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from typing import Any

from sqlalchemy.orm import Session

from billhive.platform.admin.accounts import create_admin
from billhive.platform.admin.models import AdminUser
from billhive.platform.api.tokens import create_token
from billhive.tenants.contact import seal_contact_email
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.vault import Vault

#: An API password that meets every Billbee rule (test data, not a secret).
TENANT_PASSWORD = "Test!Password#2026"
ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "correct horse battery staple"

_numbers = itertools.count(1)


def add_tenant(
    session: Session,
    vault: Vault,
    *,
    status: TenantStatus | str = TenantStatus.ACTIVE,
    display_name: str | None = None,
    contact_email: str | None = None,
    username: str | None = None,
    password: str = TENANT_PASSWORD,
    claim_username: bool = False,
    **fields: Any,
) -> Tenant:
    """A tenant with sealed credentials (so a data key for its calls' payloads) and a
    sealed contact e-mail, flushed, not committed. ``claim_username`` also sets the blind
    index, as a verified signup does (so the username counts as taken)."""
    n = next(_numbers)
    username = username or f"merchant{n}@shop.example"
    tenant = Tenant(
        display_name=display_name or f"Shop {n}",
        status=TenantStatus(status),
        username_index=vault.blind_index(username) if claim_username else None,
        **fields,
    )
    session.add(tenant)
    session.flush()
    sealed = vault.seal(tenant.id, username, password)
    credentials = TenantCredentials(tenant_id=tenant.id, **sealed._asdict())
    session.add(credentials)
    seal_contact_email(vault, tenant, credentials, contact_email or f"owner{n}@shop.example")
    session.flush()
    return tenant


def add_token(
    session: Session,
    name: str = "test",
    *,
    read_only: bool = False,
    tenant_ids: Iterable[int] | None = None,
) -> str:
    """A developer API token; returns its plaintext (shown once, as to a vendor)."""
    return create_token(session, name, read_only=read_only, tenant_ids=tenant_ids).plaintext


def add_admin(
    session: Session, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD
) -> AdminUser:
    """A stored dashboard admin with a known password."""
    return create_admin(session, email, password)
