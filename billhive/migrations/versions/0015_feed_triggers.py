"""Feed triggers: when the oldest webhook trigger a feed has not yet answered arrived, so a
fetch that fails after a trigger retries soon instead of waiting out the back-off.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "feeds", sa.Column("triggered_at", billhive.db.UTCDateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place too.
    op.execute("ALTER TABLE feeds DROP COLUMN triggered_at")
