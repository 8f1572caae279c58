"""Lanes and ordering keys: each call has a lane (interactive, bulk, background) and may
name the key it is ordered by (docs/scheduling.md). Calls made before are interactive and
ordered with every call of their tenant, as they were.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Columns added in place (no batch copy): SQLite keeps the expression indexes of 0004.
    op.add_column(
        "calls",
        sa.Column(
            "lane",
            sa.Enum(
                "interactive",
                "bulk",
                "background",
                name="call_lane",
                native_enum=False,
                create_constraint=False,
                length=16,
            ),
            server_default="interactive",
            nullable=False,
        ),
    )
    op.add_column("calls", sa.Column("ordering_key", sa.String(length=200), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("ordering_key")
        batch_op.drop_column("lane")
