"""The delivery log: which finished call or feed event was told to which token's callback.

Table names are those the rows had when delivery lived in the web layer, so moving the
code needed no migration.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, string_enum, utcnow
from billhive.tokens.models import CALLBACK_URL_MAX

# Calls use BigInteger ids on PostgreSQL and INTEGER on SQLite (see workers.models).
_CallId = BigInteger().with_variant(Integer(), "sqlite")


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
        # One delivery of a feed event per token.
        UniqueConstraint("feed_event_id", "token_id", name="uq_api_callback_deliveries_event"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"))
    #: The finished call told (``call.finished``), or None for a feed event.
    call_id: Mapped[int | None] = mapped_column(
        _CallId, ForeignKey("calls.id", ondelete="CASCADE"), nullable=True
    )
    #: The feed event told (``order.changed`` ...), or None for a finished call.
    feed_event_id: Mapped[int | None] = mapped_column(
        _CallId, ForeignKey("feed_events.id", ondelete="CASCADE"), nullable=True
    )
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
        return {
            "id": self.id,
            "call_id": self.call_id,
            "feed_event_id": self.feed_event_id,
            "status": self.status.value,
        }

    def __repr__(self) -> str:
        return f"<CallbackDelivery id={self.id} call_id={self.call_id} {self.status}>"
