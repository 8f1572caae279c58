"""Data protection (issue 13): call payloads and contact e-mails sealed with the tenant's
data key; payloads can be purged.

* ``calls.params``, ``body`` and ``result`` (plain JSON) become ``params_sealed``,
  ``body_sealed`` and ``result_sealed``: the JSON sealed with the tenant's data key, bound
  to tenant, call and field (``workers/payloads.py``). ``calls.payload_purged_at`` marks
  payloads the retention purge (or a deleted tenant) cleared; the partial index
  ``ix_calls_unpurged_finished_at`` is the purge's work list.
* ``tenants.contact_email`` (plain) becomes ``contact_email_sealed`` (vault field
  ``contact_email``) and ``contact_email_index`` (its blind index, for the dashboard's
  exact search); the plain search index on it goes.

Existing rows are sealed here, in batches, so no plaintext payload or e-mail is left once
the migration has run and the readers know one format only. That needs
``BILLHIVE_VAULT_KEYS`` and ``BILLHIVE_BLIND_INDEX_KEY`` in the migrating process when
(and only when) there are rows to seal. Rows of tenants without a data key (deleted: the
key was shredded) cannot be sealed and are purged instead, and deleted tenants lose their
display name and contact e-mail, as deleting does from now on. The downgrade opens the
sealed values again; purged ones come back empty.

(The plain values can linger in the database's free space and WAL until PostgreSQL
vacuums them, and in backups taken before: see docs/security.md, "Data protection".)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op

import billhive.db

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

BATCH = 1000
FIELDS = ("params", "body", "result")
CONTACT_FIELD = "contact_email"
UNPURGED = "payload_purged_at IS NULL AND finished_at IS NOT NULL"

_calls = sa.table(
    "calls",
    sa.column("id", sa.BigInteger()),
    sa.column("tenant_id", sa.Integer()),
    sa.column("params", sa.JSON()),
    sa.column("body", sa.JSON()),
    sa.column("result", sa.JSON()),
    sa.column("params_sealed", sa.LargeBinary()),
    sa.column("body_sealed", sa.LargeBinary()),
    sa.column("result_sealed", sa.LargeBinary()),
    sa.column("payload_purged_at", billhive.db.UTCDateTime()),
)
_tenants = sa.table(
    "tenants",
    sa.column("id", sa.Integer()),
    sa.column("status", sa.String()),
    sa.column("display_name", sa.String()),
    sa.column("contact_email", sa.String()),
    sa.column("contact_email_sealed", sa.LargeBinary()),
    sa.column("contact_email_index", sa.String()),
)
_credentials = sa.table(
    "tenant_credentials",
    sa.column("tenant_id", sa.Integer()),
    sa.column("kek_id", sa.String()),
    sa.column("wrapped_key", sa.LargeBinary()),
)


def _vault():  # type: ignore[no-untyped-def]
    # Only when there are values to seal or open: a fresh database needs no keys.
    from billhive.config import load_settings
    from billhive.tenants.vault import Vault

    return Vault.from_settings(load_settings())


class _Keys:
    """Tenants' data keys, unwrapped once each (None: the tenant has none)."""

    def __init__(self, conn: sa.Connection) -> None:
        self.conn = conn
        self.vault: Any = None
        self.found: dict[int, Any] = {}

    def get(self, tenant_id: int) -> Any:
        if tenant_id not in self.found:
            row = self.conn.execute(
                sa.select(_credentials.c.kek_id, _credentials.c.wrapped_key).where(
                    _credentials.c.tenant_id == tenant_id
                )
            ).first()
            if row is None:
                self.found[tenant_id] = None
            else:
                self.vault = self.vault or _vault()
                self.found[tenant_id] = self.vault.tenant_key(
                    tenant_id, row.kek_id, bytes(row.wrapped_key)
                )
        return self.found[tenant_id]


def _encode(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str).encode()


def _seal_calls(conn: sa.Connection, keys: _Keys) -> None:
    now = datetime.now(UTC)
    last = 0
    while True:
        rows = conn.execute(
            sa.select(_calls.c.id, _calls.c.tenant_id, *(_calls.c[f] for f in FIELDS))
            .where(_calls.c.id > last)
            .order_by(_calls.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            key = keys.get(row.tenant_id)
            values: dict[str, Any]
            if key is None:
                values = {f"{f}_sealed": None for f in FIELDS} | {"payload_purged_at": now}
            else:
                values = {}
                for field in FIELDS:
                    value = getattr(row, field)
                    empty = value is None or (field == "params" and value == {})
                    values[f"{field}_sealed"] = (
                        None if empty else key.seal(f"call:{row.id}:{field}", _encode(value))
                    )
            conn.execute(sa.update(_calls).where(_calls.c.id == row.id).values(**values))
        last = rows[-1].id


def _seal_contacts(conn: sa.Connection, keys: _Keys) -> None:
    rows = conn.execute(sa.select(_tenants.c.id, _tenants.c.status, _tenants.c.contact_email)).all()
    for row in rows:
        key = keys.get(row.id)
        if key is None or row.status == "deleted":
            values: dict[str, Any] = {"contact_email_sealed": None, "contact_email_index": None}
            if row.status == "deleted":
                values["display_name"] = f"deleted tenant #{row.id}"
        else:
            from billhive.tenants.vault import FIELD_CONTACT_EMAIL

            creds = conn.execute(
                sa.select(_credentials.c.kek_id, _credentials.c.wrapped_key).where(
                    _credentials.c.tenant_id == row.id
                )
            ).one()
            vault = keys.vault
            values = {
                "contact_email_sealed": vault.seal_field(
                    row.id,
                    FIELD_CONTACT_EMAIL,
                    creds.kek_id,
                    bytes(creds.wrapped_key),
                    row.contact_email,
                ),
                "contact_email_index": vault.email_index(row.contact_email),
            }
        conn.execute(sa.update(_tenants).where(_tenants.c.id == row.id).values(**values))


def upgrade() -> None:
    # Columns added and dropped in place (no batch copy): SQLite keeps its expression and
    # partial indexes.
    for field in FIELDS:
        op.add_column("calls", sa.Column(f"{field}_sealed", sa.LargeBinary(), nullable=True))
    op.add_column(
        "calls",
        sa.Column("payload_purged_at", billhive.db.UTCDateTime(timezone=True), nullable=True),
    )
    op.add_column("tenants", sa.Column("contact_email_sealed", sa.LargeBinary(), nullable=True))
    op.add_column("tenants", sa.Column("contact_email_index", sa.String(length=64), nullable=True))
    conn = op.get_bind()
    keys = _Keys(conn)
    _seal_calls(conn, keys)
    _seal_contacts(conn, keys)
    for field in FIELDS:
        op.drop_column("calls", field)
    op.drop_index("ix_tenants_contact_email_key", table_name="tenants")
    op.drop_column("tenants", "contact_email")
    op.create_index(
        "ix_tenants_contact_email_index", "tenants", ["contact_email_index"], unique=False
    )
    op.create_index(
        "ix_calls_unpurged_finished_at",
        "calls",
        ["finished_at"],
        unique=False,
        postgresql_where=sa.text(UNPURGED),
        sqlite_where=sa.text(UNPURGED),
    )


def _open_calls(conn: sa.Connection, keys: _Keys) -> None:
    last = 0
    while True:
        rows = conn.execute(
            sa.select(
                _calls.c.id,
                _calls.c.tenant_id,
                _calls.c.payload_purged_at,
                *(_calls.c[f"{f}_sealed"] for f in FIELDS),
            )
            .where(_calls.c.id > last)
            .order_by(_calls.c.id)
            .limit(BATCH)
        ).all()
        if not rows:
            return
        for row in rows:
            key = None if row.payload_purged_at is not None else keys.get(row.tenant_id)
            values: dict[str, Any] = {"params": {}, "body": None, "result": None}
            for field in FIELDS:
                sealed = getattr(row, f"{field}_sealed")
                if key is not None and sealed is not None:
                    plain = key.open(f"call:{row.id}:{field}", bytes(sealed))
                    values[field] = json.loads(plain)
            conn.execute(sa.update(_calls).where(_calls.c.id == row.id).values(**values))
        last = rows[-1].id


def _open_contacts(conn: sa.Connection, keys: _Keys) -> None:
    from billhive.tenants.vault import FIELD_CONTACT_EMAIL

    rows = conn.execute(sa.select(_tenants.c.id, _tenants.c.contact_email_sealed)).all()
    for row in rows:
        email = ""
        if row.contact_email_sealed is not None and keys.get(row.id) is not None:
            creds = conn.execute(
                sa.select(_credentials.c.kek_id, _credentials.c.wrapped_key).where(
                    _credentials.c.tenant_id == row.id
                )
            ).one()
            email = keys.vault.open_field(
                row.id,
                FIELD_CONTACT_EMAIL,
                creds.kek_id,
                bytes(creds.wrapped_key),
                bytes(row.contact_email_sealed),
            )
        conn.execute(sa.update(_tenants).where(_tenants.c.id == row.id).values(contact_email=email))


def downgrade() -> None:
    op.drop_index("ix_calls_unpurged_finished_at", table_name="calls")
    op.drop_index("ix_tenants_contact_email_index", table_name="tenants")
    op.add_column("calls", sa.Column("params", sa.JSON(), nullable=True))
    op.add_column("calls", sa.Column("body", sa.JSON(), nullable=True))
    op.add_column("calls", sa.Column("result", sa.JSON(), nullable=True))
    op.add_column("tenants", sa.Column("contact_email", sa.String(length=254), nullable=True))
    conn = op.get_bind()
    keys = _Keys(conn)
    _open_calls(conn, keys)
    _open_contacts(conn, keys)
    if conn.dialect.name == "postgresql":
        # (SQLite cannot tighten a column in place; the values are all there anyway.)
        op.alter_column("calls", "params", nullable=False)
        op.alter_column("tenants", "contact_email", nullable=False)
    expression = (
        '(lower(contact_email) COLLATE "C")'
        if conn.dialect.name == "postgresql"
        else "lower(contact_email)"
    )
    op.execute(f"CREATE INDEX ix_tenants_contact_email_key ON tenants ({expression})")
    for field in FIELDS:
        op.drop_column("calls", f"{field}_sealed")
    op.drop_column("calls", "payload_purged_at")
    op.drop_column("tenants", "contact_email_index")
    op.drop_column("tenants", "contact_email_sealed")
