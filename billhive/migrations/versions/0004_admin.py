"""Admin accounts, and the indexes the admin dashboard's searches and figures need.

Calls by when they started/finished (overview, /metrics), usage by day (the month's bill),
audit events by action/actor (the audit log's filters), and the tenant search below.

Tenant search is a case-insensitive prefix match on the display name or the contact
e-mail, and the list sorts by either. On PostgreSQL one expression index per column,
``lower(col) COLLATE "C"``, serves both: with the "C" collation a B-tree answers
``LIKE 'abc%'`` as a range scan and also yields the rows in sort order. SQLite gets a plain
``lower(col)`` index (its LIKE is case-insensitive already).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: The tenants' search/sort indexes: (index name, column).
SEARCH_INDEXES = (
    ("ix_tenants_display_name_key", "display_name"),
    ("ix_tenants_contact_email_key", "contact_email"),
)


def _search_expression(column: str) -> str:
    if op.get_bind().dialect.name == "postgresql":
        return f'(lower({column}) COLLATE "C")'
    return f"lower({column})"


def upgrade() -> None:
    op.create_table(
        "admin_users",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("password_hash", sa.String(length=256), nullable=False),
        sa.Column("totp_secret", sa.String(length=64), nullable=True),
        sa.Column("totp_enabled", sa.Boolean(), nullable=False),
        sa.Column("totp_last_step", sa.Integer(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_at", billhive.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("last_login_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_admin_users")),
        sa.UniqueConstraint("email", name=op.f("uq_admin_users_email")),
    )
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.create_index("ix_calls_finished_at", ["finished_at"], unique=False)
        batch_op.create_index("ix_calls_started_at", ["started_at"], unique=False)
    with op.batch_alter_table("usage_days", schema=None) as batch_op:
        batch_op.create_index("ix_usage_days_day", ["day"], unique=False)
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.create_index("ix_audit_events_action_id", ["action", "id"], unique=False)
        batch_op.create_index("ix_audit_events_actor_id", ["actor", "id"], unique=False)
    for name, column in SEARCH_INDEXES:
        op.create_index(name, "tenants", [sa.text(_search_expression(column))], unique=False)


def downgrade() -> None:
    for name, _column in SEARCH_INDEXES:
        op.drop_index(name, table_name="tenants")
    with op.batch_alter_table("audit_events", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_events_actor_id")
        batch_op.drop_index("ix_audit_events_action_id")
    with op.batch_alter_table("usage_days", schema=None) as batch_op:
        batch_op.drop_index("ix_usage_days_day")
    with op.batch_alter_table("calls", schema=None) as batch_op:
        batch_op.drop_index("ix_calls_started_at")
        batch_op.drop_index("ix_calls_finished_at")
    op.drop_table("admin_users")
