"""A tenant's contact data: the e-mail sealed like the username, and its erasure.

The contact e-mail is very often the merchant's Billbee login (a main account's username
is its login e-mail), so storing it in plain text would undo the sealed username. It is
sealed with the tenant's data key (vault field ``contact_email``) and found by a keyed
hash of its normalized form (``Vault.email_index``): the dashboard's search needs exact
matches only. Every reader goes through :func:`contact_email` / :func:`contact_emails`.

Deleting a tenant (or the merchant leaving) erases the contact e-mail and its hash and
replaces the display name with ``deleted tenant #<id>``: no hash is kept for abuse
prevention, since nothing in billhive needs to recognise a returning merchant.
"""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.tenants.errors import VaultError
from billhive.tenants.models import Tenant, TenantCredentials
from billhive.tenants.vault import FIELD_CONTACT_EMAIL, Vault

#: What a reader shows for a contact e-mail that is gone (deleted tenant) or unreadable.
UNAVAILABLE = ""


def deleted_name(tenant_id: int) -> str:
    """The display name a deleted tenant keeps (no personal data)."""
    return f"deleted tenant #{tenant_id}"


def seal_contact_email(
    vault: Vault, tenant: Tenant, credentials: TenantCredentials, email: str
) -> None:
    """Store ``email`` sealed with the tenant's data key, and its blind index (not
    committed); the tenant needs its id and credentials row."""
    tenant.contact_email_sealed = vault.seal_field(
        tenant.id, FIELD_CONTACT_EMAIL, credentials.kek_id, credentials.wrapped_key, email
    )
    tenant.contact_email_index = vault.email_index(email)


def _open(vault: Vault, tenant: Tenant, row: TenantCredentials | None) -> str:
    if tenant.contact_email_sealed is None or row is None:
        return UNAVAILABLE
    try:
        return vault.open_field(
            tenant.id, FIELD_CONTACT_EMAIL, row.kek_id, row.wrapped_key, tenant.contact_email_sealed
        )
    except VaultError:
        return UNAVAILABLE


def contact_email(session: Session, vault: Vault, tenant: Tenant) -> str:
    """The tenant's contact e-mail ("" once deleted, or when it does not open)."""
    if tenant.contact_email_sealed is None:
        return UNAVAILABLE
    return _open(vault, tenant, session.get(TenantCredentials, tenant.id))


def contact_emails(session: Session, vault: Vault, tenants: Iterable[Tenant]) -> dict[int, str]:
    """The contact e-mails of several tenants by id, with one query for their keys."""
    wanted = {t.id: t for t in tenants}
    ids = sorted(i for i, t in wanted.items() if t.contact_email_sealed is not None)
    rows = (
        {
            row.tenant_id: row
            for row in session.scalars(
                select(TenantCredentials).where(TenantCredentials.tenant_id.in_(ids))
            )
        }
        if ids
        else {}
    )
    return {i: _open(vault, t, rows.get(i)) for i, t in wanted.items()}


def erase_contact(tenant: Tenant) -> None:
    """Erase the tenant's contact data (not committed): display name, e-mail, its hash."""
    tenant.display_name = deleted_name(tenant.id)
    tenant.contact_email_sealed = None
    tenant.contact_email_index = None
