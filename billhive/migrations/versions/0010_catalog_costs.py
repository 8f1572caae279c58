"""Invoice permission refused by Billbee, monthly call budgets, Billbee's own usage counts.

``tenants`` gains ``invoice_refused_at`` (Billbee refused an invoice although the merchant
had allowed it), ``monthly_call_budget`` and ``budget_hard``; ``usage_reconciliations``
keeps, per tenant and month, the calls Billbee's ``GET /apiusage`` reports next to
billhive's own count.

Revision ID: 0010
Revises: 0008
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0010"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


#: The new columns of ``tenants``. Added and dropped in place (no batch copy of the table):
#: SQLite's batch mode would rebuild ``tenants`` without the expression indexes of 0004,
#: which it cannot reflect.
TENANT_COLUMNS = ("invoice_refused_at", "monthly_call_budget", "budget_hard")


def upgrade() -> None:
    op.add_column(
        "tenants",
        sa.Column("invoice_refused_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("tenants", sa.Column("monthly_call_budget", sa.Integer(), nullable=True))
    op.add_column(
        "tenants",
        sa.Column("budget_hard", sa.Boolean(), server_default=sa.false(), nullable=False),
    )
    op.create_table(
        "usage_reconciliations",
        sa.Column("tenant_id", sa.Integer(), nullable=False),
        sa.Column("month", sa.Date(), nullable=False),
        sa.Column("billbee_calls", sa.Integer(), nullable=True),
        sa.Column("billhive_calls", sa.Integer(), nullable=False),
        sa.Column("checked_at", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["tenant_id"],
            ["tenants.id"],
            name=op.f("fk_usage_reconciliations_tenant_id_tenants"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("tenant_id", "month", name=op.f("pk_usage_reconciliations")),
    )


def downgrade() -> None:
    op.drop_table("usage_reconciliations")
    for column in reversed(TENANT_COLUMNS):
        # SQLite (3.35+) drops a column in place too.
        op.execute(f"ALTER TABLE tenants DROP COLUMN {column}")
