"""Feed webhooks: the webhook billhive registers in each tenant's Billbee as the trigger of
its change feeds (URL token digest, sealed secret, Billbee's id, the call in flight).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "feed_webhooks",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("url_digest", sa.String(length=64), nullable=False),
        sa.Column("kek_id", sa.String(length=64), nullable=False),
        sa.Column("secret_sealed", sa.LargeBinary(), nullable=False),
        sa.Column(
            "state",
            sa.Enum(
                "registering",
                "registered",
                "removing",
                name="feed_webhook_state",
                native_enum=False,
                length=16,
            ),
            nullable=False,
        ),
        sa.Column("billbee_id", sa.String(length=64), nullable=True),
        sa.Column("call_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("created_at", billhive.db.UTCDateTime(), nullable=False),
        sa.Column("registered_at", billhive.db.UTCDateTime(), nullable=True),
        sa.Column("last_received_at", billhive.db.UTCDateTime(), nullable=True),
        sa.Column("received", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_feed_webhooks_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", name=op.f("pk_feed_webhooks")),
        sa.UniqueConstraint("url_digest", name=op.f("uq_feed_webhooks_url_digest")),
    )


def downgrade() -> None:
    op.drop_table("feed_webhooks")
