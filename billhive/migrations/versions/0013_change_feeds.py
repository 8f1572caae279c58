"""Change feeds: feeds per tenant and resource (cursor, pass in progress), what each has
seen of a record (modification time, keyed field digests), the events they made, a
call's result consumer (workers/consumers.py), and callbacks of feed events: the event
types and tenants a token's callback wants, deliveries of an event instead of a call.

Revision ID: 0013
Revises: 0011
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_events",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("event_id", sa.String(length=40), nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column(
            "resource",
            sa.Enum(
                "orders", "shipments", "stock", name="feed_resource", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column(
            "type",
            sa.Enum(
                "order.created",
                "order.changed",
                "shipment.created",
                "stock.changed",
                name="feed_event_type",
                native_enum=False,
                length=32,
            ),
            nullable=False,
        ),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("modified_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("changed", sa.JSON(), nullable=True),
        sa.Column("created_at", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("announced_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_feed_events_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feed_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_feed_events_event_id")),
    )
    with op.batch_alter_table("feed_events", schema=None) as batch_op:
        batch_op.create_index("ix_feed_events_created_at", ["created_at"], unique=False)
        batch_op.create_index("ix_feed_events_tenant_id_id", ["tenant_id", "id"], unique=False)
        batch_op.create_index(
            "ix_feed_events_unannounced",
            ["id"],
            unique=False,
            postgresql_where=sa.text("announced_at IS NULL"),
            sqlite_where=sa.text("announced_at IS NULL"),
        )

    op.create_table(
        "feeds",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column(
            "resource",
            sa.Enum(
                "orders", "shipments", "stock", name="feed_resource", native_enum=False, length=16
            ),
            nullable=False,
        ),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("started_at", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("cursor", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("pass_from", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("pass_started_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("page", sa.Integer(), nullable=False),
        sa.Column("pass_total_rows", sa.Integer(), nullable=True),
        sa.Column("pass_unstable", sa.Boolean(), nullable=False),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("next_poll_at", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_polled_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_change_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("last_reconciled_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_feeds_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_feeds")),
        sa.UniqueConstraint("tenant_id", "resource", name="uq_feeds_tenant_resource"),
    )
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.create_index(
            "ix_feeds_enabled_next_poll_at", ["enabled", "next_poll_at"], unique=False
        )

    op.create_table(
        "feed_records",
        sa.Column("feed_id", sa.Integer(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("modified_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("digest", sa.JSON(), nullable=False),
        sa.Column("seen_at", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["feed_id"],
            ["feeds.id"],
            name=op.f("fk_feed_records_feed_id_feeds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("feed_id", "record_id", name=op.f("pk_feed_records")),
    )
    with op.batch_alter_table("api_callback_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "feed_event_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.alter_column(
            "call_id",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=True,
        )
        batch_op.create_unique_constraint(
            "uq_api_callback_deliveries_event", ["feed_event_id", "token_id"]
        )
        batch_op.create_foreign_key(
            batch_op.f("fk_api_callback_deliveries_feed_event_id_feed_events"),
            "feed_events",
            ["feed_event_id"],
            ["id"],
            ondelete="CASCADE",
        )

    op.add_column("api_tokens", sa.Column("callback_events", sa.JSON(), nullable=True))
    op.add_column("api_tokens", sa.Column("callback_tenant_ids", sa.JSON(), nullable=True))

    # Added in place (no batch copy): SQLite keeps the expression indexes of 0004.
    op.add_column("calls", sa.Column("consumer", sa.String(length=120), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("consumer")

    with op.batch_alter_table("api_tokens", schema=None) as batch_op:
        batch_op.drop_column("callback_tenant_ids")
        batch_op.drop_column("callback_events")

    with op.batch_alter_table("api_callback_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_api_callback_deliveries_feed_event_id_feed_events"), type_="foreignkey"
        )
        batch_op.drop_constraint("uq_api_callback_deliveries_event", type_="unique")
        batch_op.alter_column(
            "call_id",
            existing_type=sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        )
        batch_op.drop_column("feed_event_id")

    op.drop_table("feed_records")
    with op.batch_alter_table("feeds", schema=None) as batch_op:
        batch_op.drop_index("ix_feeds_enabled_next_poll_at")

    op.drop_table("feeds")
    with op.batch_alter_table("feed_events", schema=None) as batch_op:
        batch_op.drop_index(
            "ix_feed_events_unannounced",
            postgresql_where=sa.text("announced_at IS NULL"),
            sqlite_where=sa.text("announced_at IS NULL"),
        )
        batch_op.drop_index("ix_feed_events_tenant_id_id")
        batch_op.drop_index("ix_feed_events_created_at")

    op.drop_table("feed_events")
