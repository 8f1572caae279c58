"""Security hardening (issue 13): admin session epochs, sealed TOTP secrets, unverified
signups and reconnects in their own pending fields, single-use reconnect links.

* ``admin_users.session_epoch``: part of every admin session id; raising it ends all
  sessions of that admin.
* ``admin_users.totp_secret`` (plain base32) becomes ``totp_secret_sealed`` +
  ``totp_kek_id``: sealed with the vault's active key (``Vault.seal_secret``, purpose
  ``admin-totp``). Existing secrets are sealed here, so no plain secret is left once the
  migration has run; that needs ``BILLHIVE_VAULT_KEYS`` in the migrating process when
  (and only when) an admin has a TOTP secret. The downgrade opens them again.
* ``tenants.pending_username_index``: the blind index of a username not yet verified
  (it claims nothing, unlike the unique ``username_index``). Rows that are
  ``pending_verification`` and were never verified move their index there.
* ``tenants.reconnect_link_serial``: only the newest reconnect link is valid, once.
* ``tenant_credentials.pending_password_sealed``: a reconnect's unverified password.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TOTP_PURPOSE = "admin-totp"
#: Migration 0004's search indexes on ``tenants`` (expressions SQLite's batch mode drops).
SEARCH_INDEXES = (
    ("ix_tenants_display_name_key", "display_name"),
    ("ix_tenants_contact_email_key", "contact_email"),
)


def _vault():  # type: ignore[no-untyped-def]
    # Only when there are secrets to seal or open: a fresh database needs no keys.
    from billhive.config import load_settings
    from billhive.tenants.vault import Vault

    return Vault.from_settings(load_settings())


def upgrade() -> None:
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("session_epoch", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.add_column(sa.Column("totp_secret_sealed", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("totp_kek_id", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    plain = conn.execute(
        sa.text("SELECT id, totp_secret FROM admin_users WHERE totp_secret IS NOT NULL")
    ).all()
    if plain:
        vault = _vault()
        for admin_id, secret in plain:
            kek_id, sealed = vault.seal_secret(TOTP_PURPOSE, admin_id, secret)
            conn.execute(
                sa.text(
                    "UPDATE admin_users SET totp_secret_sealed = :sealed, totp_kek_id = :kek"
                    " WHERE id = :id"
                ),
                {"sealed": sealed, "kek": kek_id, "id": admin_id},
            )
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.drop_column("totp_secret")

    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("pending_username_index", sa.String(length=64), nullable=True)
        )
        batch_op.add_column(
            sa.Column("reconnect_link_serial", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.create_index(
            batch_op.f("ix_tenants_pending_username_index"),
            ["pending_username_index"],
            unique=False,
        )
    # A signup still waiting for its first verification claims its username no longer.
    op.execute(
        "UPDATE tenants SET pending_username_index = username_index, username_index = NULL"
        " WHERE status = 'pending_verification' AND verified_at IS NULL"
    )
    with op.batch_alter_table("tenant_credentials", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_password_sealed", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("tenant_credentials", schema=None) as batch_op:
        batch_op.drop_column("pending_password_sealed")
    # Unverified signups claim their username again unless a verified tenant holds it.
    op.execute(
        "UPDATE tenants SET username_index = pending_username_index"
        " WHERE pending_username_index IS NOT NULL AND status != 'deleted'"
        " AND pending_username_index NOT IN"
        " (SELECT t2.username_index FROM tenants t2 WHERE t2.username_index IS NOT NULL)"
        " AND id = (SELECT MIN(t3.id) FROM tenants t3 WHERE t3.status != 'deleted'"
        " AND t3.pending_username_index = tenants.pending_username_index)"
    )
    with op.batch_alter_table("tenants", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_tenants_pending_username_index"))
        batch_op.drop_column("reconnect_link_serial")
        batch_op.drop_column("pending_username_index")
    if op.get_bind().dialect.name == "sqlite":
        # Batch mode rebuilt the table without 0004's expression indexes: put them back.
        for name, column in SEARCH_INDEXES:
            op.execute(f"CREATE INDEX IF NOT EXISTS {name} ON tenants (lower({column}))")

    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("totp_secret", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    sealed_rows = conn.execute(
        sa.text(
            "SELECT id, totp_kek_id, totp_secret_sealed FROM admin_users"
            " WHERE totp_secret_sealed IS NOT NULL"
        )
    ).all()
    if sealed_rows:
        vault = _vault()
        for admin_id, kek_id, sealed in sealed_rows:
            secret = vault.open_secret(TOTP_PURPOSE, admin_id, kek_id, bytes(sealed))
            conn.execute(
                sa.text("UPDATE admin_users SET totp_secret = :secret WHERE id = :id"),
                {"secret": secret, "id": admin_id},
            )
    with op.batch_alter_table("admin_users", schema=None) as batch_op:
        batch_op.drop_column("totp_kek_id")
        batch_op.drop_column("totp_secret_sealed")
        batch_op.drop_column("session_epoch")
