"""Calls sent alone: ``calls.solo`` marks a coalescable call whose bulk call Billbee refused
as a whole, so it goes out in a bulk call of its own from then on.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "calls", sa.Column("solo", sa.Boolean(), server_default=sa.false(), nullable=False)
    )


def downgrade() -> None:
    # SQLite (3.35+) drops a column in place too.
    op.execute("ALTER TABLE calls DROP COLUMN solo")
