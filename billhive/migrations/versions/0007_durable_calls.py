"""Durable calls: attempt leases, optimistic locking, the announcement outbox, and the
reconciler's state.

- ``calls.attempt_started_at``: a running call whose attempt is older than the lease has
  ended (RQ killed it at its timeout), so a worker may decide what it became.
- ``calls.version``: every UPDATE of a call checks and bumps it (SQLAlchemy's version
  counter), so two workers, or a worker and a cancel, cannot both move a call on.
- ``calls.announced_at`` + a partial index: final calls of a token not yet turned into
  callback deliveries. The database is the outbox; the Redis list of finished ids goes.
  Calls that were final before this revision count as announced.
- ``calls.requeues`` and ``api_callback_deliveries.call_requeues``: each operator requeue
  starts a new round whose final status is announced again.
- ``reconciler_state``: the reconciler's cursor and its marker in Redis.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CALL_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
UNANNOUNCED = sa.text(
    "announced_at IS NULL AND origin_token_id IS NOT NULL"
    " AND status IN ('cancelled', 'failed', 'succeeded', 'unknown_outcome')"
)


def _utc() -> billhive.db.UTCDateTime:
    return billhive.db.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.add_column(sa.Column("attempt_started_at", _utc(), nullable=True))
        batch_op.add_column(sa.Column("requeues", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("announced_at", _utc(), nullable=True))
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.execute(
        "UPDATE calls SET announced_at = COALESCE(finished_at, enqueued_at)"
        " WHERE status IN ('succeeded', 'failed', 'unknown_outcome', 'cancelled')"
    )
    op.create_index(
        "ix_calls_unannounced",
        "calls",
        ["id"],
        postgresql_where=UNANNOUNCED,
        sqlite_where=UNANNOUNCED,
    )
    with op.batch_alter_table("api_callback_deliveries", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("call_requeues", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("uq_api_callback_deliveries_call_token", type_="unique")
        batch_op.create_unique_constraint(
            "uq_api_callback_deliveries_announcement", ["call_id", "token_id", "call_requeues"]
        )
    op.create_table(
        "reconciler_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("marker", sa.String(length=64), nullable=True),
        sa.Column("cursor", CALL_ID, nullable=False),
        sa.Column("last_run_at", _utc(), nullable=True),
        sa.Column("last_loss_at", _utc(), nullable=True),
        sa.Column("recovered_total", sa.BigInteger(), nullable=False),
        sa.Column("last_recovered", sa.Integer(), nullable=False),
        sa.Column("last_recovered_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_reconciler_state")),
    )


def downgrade() -> None:
    op.drop_table("reconciler_state")
    with op.batch_alter_table("api_callback_deliveries", schema=None) as batch_op:
        batch_op.drop_constraint("uq_api_callback_deliveries_announcement", type_="unique")
        batch_op.create_unique_constraint(
            "uq_api_callback_deliveries_call_token", ["call_id", "token_id"]
        )
        batch_op.drop_column("call_requeues")
    op.drop_index("ix_calls_unannounced", table_name="calls")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_column("version")
        batch_op.drop_column("announced_at")
        batch_op.drop_column("requeues")
        batch_op.drop_column("attempt_started_at")
