"""API tokens, their tenant scope, idempotency keys, call origins and callback deliveries.

A token is stored as its public id (the lookup key, safe to log) and the SHA-256 of the
whole token: tokens carry 256 random bits, so a fast hash is as strong as a slow one here
and keeps the check cheap on every request. The plaintext token is shown once.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, string_enum, utcnow

#: Length of a token's public id (hex characters).
PUBLIC_ID_LENGTH = 16
#: The longest Idempotency-Key header accepted.
IDEMPOTENCY_KEY_MAX = 255
#: The longest callback URL accepted.
CALLBACK_URL_MAX = 2000

# Calls use BigInteger ids on PostgreSQL and INTEGER on SQLite (see workers.models).
_CallId = BigInteger().with_variant(Integer(), "sqlite")


class ApiToken(Base):
    """One developer API token: who it is for, what it may do, where its callbacks go."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: The token's visible prefix part; unique, used to find the row, safe to log.
    public_id: Mapped[str] = mapped_column(String(PUBLIC_ID_LENGTH), unique=True)
    #: Hex SHA-256 of the whole token.
    secret_hash: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    #: True: the token may only read (GET); every write answers 403.
    read_only: Mapped[bool] = mapped_column(Boolean, default=False)
    #: True: the token reaches every tenant; False: only those in ``api_token_tenants``.
    all_tenants: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Where finished calls enqueued with this token are POSTed (None: no callbacks).
    callback_url: Mapped[str | None] = mapped_column(String(CALLBACK_URL_MAX), nullable=True)
    #: Random salt the callback signing secret is derived from (with the app's secret key);
    #: replaced whenever the callback is registered again, which changes the secret.
    callback_salt: Mapped[str | None] = mapped_column(String(64), nullable=True)
    callback_registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:
        return f"<ApiToken id={self.id} public_id={self.public_id} read_only={self.read_only}>"


class ApiTokenTenant(Base):
    """One tenant a scoped token (``all_tenants`` False) may reach."""

    __tablename__ = "api_token_tenants"

    token_id: Mapped[int] = mapped_column(
        ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )


class IdempotencyKey(Base):
    """The calls a POST with an ``Idempotency-Key`` created, unique per token and key.

    The row is inserted before the calls are enqueued, in the same transaction: a
    concurrent retry with the same key waits on (or fails on) the unique constraint and
    then answers with the first request's calls instead of creating new ones.
    """

    __tablename__ = "api_idempotency_keys"
    __table_args__ = (
        UniqueConstraint("token_id", "key", name="uq_api_idempotency_keys_token_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(IDEMPOTENCY_KEY_MAX))
    #: SHA-256 of method, path and body: the same key with another request is a conflict.
    request_hash: Mapped[str] = mapped_column(String(64))
    call_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class DeliveryStatus(StrEnum):
    """Where one callback delivery is."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"
    #: The token was revoked or its callback removed before the delivery succeeded.
    CANCELLED = "cancelled"


class CallbackDelivery(Base):
    """The delivery log: one finished call told to one token's callback URL, and how it went."""

    __tablename__ = "api_callback_deliveries"
    __table_args__ = (
        Index("ix_api_callback_deliveries_token_id_id", "token_id", "id"),
        # One delivery per announcement: a call's final status, per token, per round (an
        # operator's requeue starts a new round). Two collectors racing meet here.
        UniqueConstraint(
            "call_id", "token_id", "call_requeues", name="uq_api_callback_deliveries_announcement"
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    call_id: Mapped[int] = mapped_column(_CallId, ForeignKey("calls.id", ondelete="CASCADE"))
    #: The call's ``requeues`` when it was announced (which round of the call this tells).
    call_requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    url: Mapped[str] = mapped_column(String(CALLBACK_URL_MAX))
    status: Mapped[DeliveryStatus] = mapped_column(
        string_enum(DeliveryStatus, "callback_delivery_status"), default=DeliveryStatus.PENDING
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Why the last attempt failed (connection error class or HTTP status); never a secret.
    last_error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def as_log(self) -> dict[str, Any]:
        """The row as plain data (for logs and the API)."""
        return {"id": self.id, "call_id": self.call_id, "status": self.status.value}

    def __repr__(self) -> str:
        return f"<CallbackDelivery id={self.id} call_id={self.call_id} {self.status}>"
