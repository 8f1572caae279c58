"""Feeds (one per tenant and resource), what each has seen, and the events it made.

Events carry minimal data: the record's id, the names of the fields that changed and
Billbee's modification time, never the record itself (an order holds an end customer's
name and address). A vendor fetches the record with a call when it needs it.
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
    LargeBinary,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, string_enum, utcnow

# BigInteger ids on PostgreSQL, INTEGER on SQLite where only that type auto-increments.
_BigId = BigInteger().with_variant(Integer(), "sqlite")
#: The longest record id kept (Billbee's ids are 64-bit numbers; SKUs may be text).
RECORD_ID_MAX = 64


class Resource(StrEnum):
    """What a feed follows."""

    ORDERS = "orders"
    SHIPMENTS = "shipments"
    STOCK = "stock"


class EventType(StrEnum):
    """What an event says happened."""

    ORDER_CREATED = "order.created"
    ORDER_CHANGED = "order.changed"
    SHIPMENT_CREATED = "shipment.created"
    STOCK_CHANGED = "stock.changed"


class Feed(Base):
    """One tenant's feed of one resource: switched on or off, its cursor, its pass.

    A *pass* reads every page of records modified since ``cursor`` less the overlap; the
    page in progress and the pass's start are kept here, so a pass survives a worker or
    Redis restart. Only one fetch of a feed is in flight at a time (``call_id``), which
    keeps its events in order.
    """

    __tablename__ = "feeds"
    __table_args__ = (
        UniqueConstraint("tenant_id", "resource", name="uq_feeds_tenant_resource"),
        Index("ix_feeds_enabled_next_poll_at", "enabled", "next_poll_at"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    resource: Mapped[Resource] = mapped_column(string_enum(Resource, "feed_resource", length=16))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    #: When the feed was switched on: records created before it are not "created" events.
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Every change up to this moment (less the overlap) has been read.
    cursor: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: The pass in progress: the lower bound it asks for, when its first page was asked
    #: for, the next page, and whether it saw records move under it.
    pass_from: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    pass_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    page: Mapped[int] = mapped_column(Integer, default=1)
    pass_total_rows: Mapped[int | None] = mapped_column(Integer, nullable=True)
    pass_unstable: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The fetch call in flight (at most one per feed).
    call_id: Mapped[int | None] = mapped_column(_BigId, nullable=True)
    next_poll_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_polled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: When the feed last made an event (recently active tenants are polled more often).
    last_change_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: When the last full reconciliation pass (from a wide window) finished.
    last_reconciled_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Fetches that failed in a row (backs the next poll off).
    failures: Mapped[int] = mapped_column(Integer, default=0)
    #: When the oldest webhook trigger not yet answered by a fetch arrived: a fetch that
    #: fails after it is retried soon (schedule.retry_after_trigger), not at the back-off.
    triggered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:
        return f"<Feed id={self.id} tenant_id={self.tenant_id} {self.resource}>"


class FeedRecord(Base):
    """What a feed last saw of one record: Billbee's modification time and a keyed digest
    per top-level field (to name what changed without keeping the data)."""

    __tablename__ = "feed_records"

    feed_id: Mapped[int] = mapped_column(
        ForeignKey("feeds.id", ondelete="CASCADE"), primary_key=True
    )
    record_id: Mapped[str] = mapped_column(String(RECORD_ID_MAX), primary_key=True)
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    digest: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    seen_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class FeedEvent(Base):
    """One change, in order: the events of one tenant and resource were written by one
    fetch at a time, so their ids follow the order they happened in.

    ``id`` is drawn at INSERT, but the workers' transactions commit in another order: a
    reader paging by ``id`` could pass over an event whose transaction was still open.
    So the collector (``billhive.delivery.events``) gives each committed event a ``seq``
    when it announces it, one more than the largest so far, in the order it announces
    them; a unique index makes two announcers drawing the same numbers fail one of them.
    A ``seq`` is thus seen only once every smaller one has committed, and the pull API
    pages by it (as ``sequence``) without ever skipping an event.
    """

    __tablename__ = "feed_events"
    __table_args__ = (
        Index("ix_feed_events_tenant_id_seq", "tenant_id", "seq"),
        Index("ix_feed_events_seq", "seq", unique=True),
        Index("ix_feed_events_created_at", "created_at"),
        # The outbox of event deliveries: small however many events were ever made.
        Index(
            "ix_feed_events_unannounced",
            "id",
            postgresql_where=text("announced_at IS NULL"),
            sqlite_where=text("announced_at IS NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(_BigId, primary_key=True, autoincrement=True)
    #: Stable id, derived from tenant, resource, record and version (and for a change the
    #: version it replaced): the same change read twice gets the same id (and the unique
    #: key refuses the second row).
    event_id: Mapped[str] = mapped_column(String(40), unique=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    resource: Mapped[Resource] = mapped_column(string_enum(Resource, "feed_resource", length=16))
    type: Mapped[EventType] = mapped_column(string_enum(EventType, "feed_event_type", length=32))
    record_id: Mapped[str] = mapped_column(String(RECORD_ID_MAX))
    #: Billbee's modification (or creation) time of the record, when it sends one.
    modified_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Names of the top-level fields that changed (``order.changed``, ``stock.changed``);
    #: None when not known (first sight of a record older than the feed).
    changed: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: When the event was turned into callback deliveries (the outbox's mark).
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The order events were announced in (gap-free, from 1; the pull API's cursor);
    #: None until announced.
    seq: Mapped[int | None] = mapped_column(BigInteger, nullable=True)

    def as_json(self) -> dict[str, Any]:
        """The event as the pull API and callbacks show it (both only once announced)."""
        return {
            "id": self.event_id,
            "sequence": self.seq,
            "type": self.type.value,
            "tenant_id": self.tenant_id,
            "resource": self.resource.value,
            "record_id": self.record_id,
            "modified_at": self.modified_at.isoformat() if self.modified_at else None,
            "changed": self.changed,
            "created_at": self.created_at.isoformat(),
        }


class WebhookState(StrEnum):
    """Where a tenant's Billbee webhook stands."""

    #: The ``webhooks.list`` call before a registration is queued or running.
    LISTING = "listing"
    #: Billbee's list is read: the webhooks of billhive's receiver found there
    #: (``stale_ids``) are being deleted, one ``webhooks.delete`` call at a time.
    CLEANING = "cleaning"
    #: The ``webhooks.create`` call is queued or running.
    REGISTERING = "registering"
    #: Billbee has it (``billbee_id``); its posts bring the tenant's next poll forward.
    REGISTERED = "registered"
    #: The ``webhooks.delete`` call is queued or running (the tenant's feeds are all off).
    REMOVING = "removing"


class FeedWebhook(Base):
    """The webhook billhive registered in one tenant's Billbee as the feeds' trigger.

    Its URL ends in a random token of which only the SHA-256 is kept (a copy of the
    database does not tell where to post); its secret (32-64 characters, Billbee's rule)
    is sealed by the vault (``Vault.seal_secret``, purpose ``feed-webhook``). A post is
    only a signal: a valid one brings the tenant's next poll forward, its content is not
    read.
    """

    __tablename__ = "feed_webhooks"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    #: Hex SHA-256 of the URL's token: how a post finds its tenant.
    url_digest: Mapped[str] = mapped_column(String(64), unique=True)
    kek_id: Mapped[str] = mapped_column(String(64))
    secret_sealed: Mapped[bytes] = mapped_column(LargeBinary)
    state: Mapped[WebhookState] = mapped_column(
        string_enum(WebhookState, "feed_webhook_state", length=16)
    )
    #: Billbee's id of the webhook, once registered.
    billbee_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: The list, create or delete call in flight.
    call_id: Mapped[int | None] = mapped_column(_BigId, nullable=True)
    #: While cleaning: Billbee's ids of webhooks that point at billhive's receiver but are
    #: not this one (a registration whose answer was lost), still to delete.
    stale_ids: Mapped[list[str] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    registered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    last_received_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: Valid posts received.
    received: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<FeedWebhook tenant_id={self.tenant_id} {self.state}>"
