"""Tenant, its sealed credentials and the audit log (SQLAlchemy 2 typed models).

The sealed username/password and the tenant's wrapped data key live in their own table,
``tenant_credentials``, one row per tenant: key rotation rewrites only that row's wrapped
key, and crypto-shredding deletes the row, while the ``tenants`` row (status ``deleted``)
and its audit history stay.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from billhive.db import Base, UTCDateTime, string_enum, utcnow

#: Hex length of the HMAC-SHA256 blind index.
BLIND_INDEX_LENGTH = 64
#: The largest tenant id (``tenants.id`` is a 32-bit INTEGER on PostgreSQL).
MAX_TENANT_ID = 2**31 - 1


class TenantStatus(StrEnum):
    """Where a tenant is in its life; every change is written to the audit log."""

    PENDING_VERIFICATION = "pending_verification"
    ACTIVE = "active"
    PAUSED = "paused"
    CREDENTIALS_INVALID = "credentials_invalid"
    DISABLED = "disabled"
    DELETED = "deleted"


class Tenant(Base):
    """One merchant's Billbee account. Holds no plaintext credential."""

    __tablename__ = "tenants"
    __table_args__ = (
        Index("ix_tenants_status", "status"),
        # The dashboard's case-insensitive prefix search and sort on the name; migration
        # 0004 adds COLLATE "C" on PostgreSQL (Alembic does not compare collations).
        Index("ix_tenants_display_name_key", func.lower(text("display_name"))),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: Replaced by "deleted tenant #<id>" when the tenant is deleted.
    display_name: Mapped[str] = mapped_column(String(200))
    #: The contact e-mail, sealed with the tenant's data key (vault field
    #: ``contact_email``): it is very often the merchant's Billbee login. Read it through
    #: ``tenants/contact.py``; None once the tenant is deleted.
    contact_email_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    #: Keyed hash of the normalized contact e-mail (``Vault.email_index``): the dashboard
    #: finds a tenant by its exact e-mail. None once the tenant is deleted.
    contact_email_index: Mapped[str | None] = mapped_column(
        String(BLIND_INDEX_LENGTH), nullable=True, index=True
    )
    #: HMAC-SHA256 of the normalized username (see ``Vault.blind_index``); NULL once deleted,
    #: so a deleted tenant no longer links to its username and the name can sign up again.
    username_index: Mapped[str | None] = mapped_column(
        String(BLIND_INDEX_LENGTH), unique=True, nullable=True
    )
    #: The blind index of a username not yet verified with Billbee (a signup while Billbee
    #: was unreachable): it claims nothing. Moved to ``username_index`` once Billbee
    #: accepts the credentials; cleared when the tenant is deleted or superseded.
    pending_username_index: Mapped[str | None] = mapped_column(
        String(BLIND_INDEX_LENGTH), nullable=True, index=True
    )
    status: Mapped[TenantStatus] = mapped_column(string_enum(TenantStatus, "tenant_status"))
    invoice_creation_allowed: Mapped[bool] = mapped_column(Boolean, default=False)
    #: When Billbee last refused an invoice or delivery note although the merchant had said
    #: invoice creation was allowed (billhive then recorded it as not allowed); cleared
    #: when the merchant confirms it again.
    invoice_refused_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Billbee calls a month this tenant may make (None: no budget); see workers/budgets.py.
    monthly_call_budget: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: True: over the budget, new calls are refused; False: the budget only warns.
    budget_hard: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    verified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    #: Number of the newest reconnect link; only a link carrying it is valid, and using
    #: it raises the number (single use; a new link revokes the older ones).
    reconnect_link_serial: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    credentials: Mapped[TenantCredentials | None] = relationship(
        back_populates="tenant", cascade="all, delete-orphan", passive_deletes=True
    )

    def __repr__(self) -> str:
        return f"<Tenant id={self.id} status={self.status}>"


class TenantCredentials(Base):
    """A tenant's wrapped data key and the username/password sealed with it."""

    __tablename__ = "tenant_credentials"
    __table_args__ = (Index("ix_tenant_credentials_kek_id", "kek_id"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    #: Id of the key-encryption key (keyring entry) that wrapped ``wrapped_key``.
    kek_id: Mapped[str] = mapped_column(String(64))
    wrapped_key: Mapped[bytes] = mapped_column(LargeBinary)
    username_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    password_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    #: A new API password waiting for Billbee's verdict (a reconnect while Billbee was
    #: unreachable); it replaces ``password_sealed`` only once Billbee accepts it.
    pending_password_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)

    tenant: Mapped[Tenant] = relationship(back_populates="credentials")

    def __repr__(self) -> str:
        return f"<TenantCredentials tenant_id={self.tenant_id} kek_id={self.kek_id}>"


class AuditEvent(Base):
    """Who or what changed a tenant, when, from which status to which, and why.

    ``tenant_id`` is a plain column (no foreign key) so nothing that happens to a tenant row
    can ever delete or block its history. ``details`` never holds a secret.
    """

    __tablename__ = "audit_events"
    __table_args__ = (
        Index("ix_audit_events_tenant_id_created_at", "tenant_id", "created_at"),
        # The audit log page filters by action or actor, newest first.
        Index("ix_audit_events_action_id", "action", "id"),
        Index("ix_audit_events_actor_id", "actor", "id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(100))
    action: Mapped[str] = mapped_column(String(64))
    from_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    to_status: Mapped[str | None] = mapped_column(String(32), nullable=True)
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    def __repr__(self) -> str:
        return f"<AuditEvent id={self.id} tenant_id={self.tenant_id} action={self.action}>"
