"""API tokens, their tenant scope and idempotency keys.

Below the web layer so that the parts serving a token outside a request (callback and
event delivery, housekeeping jobs) can read it without importing the platform.

A token is stored as its public id (the lookup key, safe to log) and the SHA-256 of the
whole token: tokens carry 256 random bits, so a fast hash is as strong as a slow one here
and keeps the check cheap on every request. The plaintext token is shown once.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, utcnow

#: Length of a token's public id (hex characters).
PUBLIC_ID_LENGTH = 16
#: The longest Idempotency-Key header accepted.
IDEMPOTENCY_KEY_MAX = 255
#: The longest callback URL accepted.
CALLBACK_URL_MAX = 2000


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
    #: The event types the callback wants (None: ``call.finished`` only, as before feeds).
    callback_events: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    #: The tenants whose feed events the callback wants (None: every tenant of the token).
    callback_tenant_ids: Mapped[list[int] | None] = mapped_column(JSON, nullable=True)

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
