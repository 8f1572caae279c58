"""The API token that enqueued a call becomes a column of ``calls``.

It was a row of its own (``api_call_origins``), written by a second INSERT on every
enqueue. As a column it is written by the one INSERT that records the call, which is
also the statement that checks the tenant takes calls: one statement per enqueue instead
of three.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALL_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    # No foreign key: the model of the tokens lives in the API package, which a process
    # working calls need not import (and tokens are revoked, never deleted).
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("origin_token_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE calls SET origin_token_id = (SELECT o.token_id FROM api_call_origins o"
        " WHERE o.call_id = calls.id)"
        " WHERE id IN (SELECT call_id FROM api_call_origins)"
    )
    op.drop_index("ix_api_call_origins_token_id", table_name="api_call_origins")
    op.drop_table("api_call_origins")


def downgrade() -> None:
    op.create_table(
        "api_call_origins",
        sa.Column("call_id", CALL_ID, nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["call_id"],
            ["calls.id"],
            name=op.f("fk_api_call_origins_call_id_calls"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["token_id"],
            ["api_tokens.id"],
            name=op.f("fk_api_call_origins_token_id_api_tokens"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("call_id", name=op.f("pk_api_call_origins")),
    )
    op.create_index("ix_api_call_origins_token_id", "api_call_origins", ["token_id"])
    op.execute(
        "INSERT INTO api_call_origins (call_id, token_id)"
        " SELECT id, origin_token_id FROM calls WHERE origin_token_id IS NOT NULL"
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("origin_token_id")
