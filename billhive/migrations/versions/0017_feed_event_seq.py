"""Feed events get a commit-ordered sequence (``seq``), the pull API's cursor.

Ids are drawn at INSERT, but transactions commit in another order, so a reader paging by
id could skip an event whose transaction was still open. The collector now numbers
events as it announces them (max + 1). The announced events of before keep the number
clients saw as their ``sequence``, their row id, so a cursor a client stored stays valid.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feed_events", sa.Column("seq", sa.BigInteger(), nullable=True))
    # Before 0017 an event's `sequence` was its id; renumbering from 1 would put every
    # stored cursor ahead of the new numbers and skip events without an error.
    op.execute("UPDATE feed_events SET seq = id WHERE announced_at IS NOT NULL")
    op.create_index("ix_feed_events_seq", "feed_events", ["seq"], unique=True)
    op.create_index("ix_feed_events_tenant_id_seq", "feed_events", ["tenant_id", "seq"])
    op.drop_index("ix_feed_events_tenant_id_id", table_name="feed_events")


def downgrade() -> None:
    op.create_index("ix_feed_events_tenant_id_id", "feed_events", ["tenant_id", "id"])
    op.drop_index("ix_feed_events_tenant_id_seq", table_name="feed_events")
    op.drop_index("ix_feed_events_seq", table_name="feed_events")
    # SQLite (3.35+) drops a column in place too (its indexes are gone first).
    op.execute("ALTER TABLE feed_events DROP COLUMN seq")
