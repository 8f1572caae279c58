"""Feed webhook clean-up: the ids of webhooks in a tenant's Billbee that point at
billhive's receiver but are not the current one (left by a registration whose outcome
was unknown), deleted before a new registration.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("feed_webhooks", sa.Column("stale_ids", sa.JSON(), nullable=True))


def downgrade() -> None:
    # The states of a registration in progress are unknown to the code before 0016; the
    # rows go, and that code's webhook sync registers those tenants again.
    op.execute("DELETE FROM feed_webhooks WHERE state IN ('listing', 'cleaning')")
    # SQLite (3.35+) drops a column in place too.
    op.execute("ALTER TABLE feed_webhooks DROP COLUMN stale_ids")
