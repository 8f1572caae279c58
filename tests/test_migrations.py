"""Alembic is the only source of the schema, and it matches the models."""

import json

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory

from billhive.db import Database, alembic_config, current_revision
from billhive.models import Base


def test_migrations_have_a_single_head(database_url: str) -> None:
    heads = ScriptDirectory.from_config(alembic_config(database_url)).get_heads()
    assert len(heads) == 1, f"several Alembic heads: {heads}"


def test_test_database_is_migrated_to_the_head(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current_revision(database_url) == head


def test_autogenerate_finds_no_difference_between_models_and_migrations(
    database: Database,
) -> None:
    with database.engine.connect() as connection:
        context = MigrationContext.configure(
            connection, opts={"compare_type": True, "render_as_batch": True}
        )
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"models and migrations differ on {database.engine.dialect.name}: {diff}"


def test_every_revision_downgrades_and_upgrades_again(tmp_path: object) -> None:
    from alembic import command

    url = f"sqlite:///{tmp_path}/roundtrip.db"
    config = alembic_config(url)
    command.upgrade(config, "head")
    command.downgrade(config, "base")
    assert current_revision(url) is None
    command.upgrade(config, "head")
    assert current_revision(url) is not None


def test_revision_0006_moves_call_origins_into_the_calls_table_and_back(
    tmp_path: object,
) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path}/origins.db"
    config = alembic_config(url)
    command.upgrade(config, "0005")
    engine = create_engine(url)
    now = "2026-12-01 00:00:00.000000"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, display_name, contact_email, status,"
                " invoice_creation_allowed, created_at, updated_at)"
                " VALUES (1, 'Shop', 'a@shop.test', 'active', 0, :now, :now)"
            ),
            {"now": now},
        )
        conn.execute(
            text(
                "INSERT INTO api_tokens (id, public_id, secret_hash, name, read_only,"
                " all_tenants, created_at) VALUES (7, 'pub', 'hash', 'erp', 0, 1, :now)"
            ),
            {"now": now},
        )
        for call_id in (1, 2):
            conn.execute(
                text(
                    "INSERT INTO calls (id, tenant_id, operation, params, status, attempts,"
                    " result_truncated, enqueued_at)"
                    " VALUES (:id, 1, 'orders.list', '{}', 'queued', 0, 0, :now)"
                ),
                {"id": call_id, "now": now},
            )
        conn.execute(text("INSERT INTO api_call_origins (call_id, token_id) VALUES (1, 7)"))
    command.upgrade(config, "0006")
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT id, origin_token_id FROM calls ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [(1, 7), (2, None)]
    command.downgrade(config, "0005")
    with engine.connect() as conn:
        origins = conn.execute(text("SELECT call_id, token_id FROM api_call_origins")).all()
    assert [tuple(r) for r in origins] == [(1, 7)]
    engine.dispose()


def test_revision_0010_adds_the_tenant_columns_in_place_keeping_the_search_indexes(
    tmp_path: object,
) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    url = f"sqlite:///{tmp_path}/0010.db"
    config = alembic_config(url)
    command.upgrade(config, "0010")
    engine = create_engine(url)
    with engine.connect() as conn:
        indexes = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master"))}
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(tenants)"))}
    engine.dispose()
    assert {"ix_tenants_display_name_key", "ix_tenants_contact_email_key"} <= indexes
    assert {"invoice_refused_at", "monthly_call_budget", "budget_hard"} <= columns
    command.downgrade(config, "0006")
    engine = create_engine(url)
    with engine.connect() as conn:
        columns = {row[1] for row in conn.execute(text("PRAGMA table_info(tenants)"))}
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master"))}
    engine.dispose()
    assert "budget_hard" not in columns and "usage_reconciliations" not in tables


def test_revision_0008_seals_existing_totp_secrets_and_unclaims_unverified_signups(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from billhive.config import generate_dev_secrets, load_settings
    from billhive.platform.admin.models import TOTP_PURPOSE
    from billhive.tenants.vault import Vault

    for name, value in generate_dev_secrets().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BILLHIVE_INSTANCE_PATH", str(tmp_path))
    url = f"sqlite:///{tmp_path}/totp.db"
    config = alembic_config(url)
    command.upgrade(config, "0006")
    engine = create_engine(url)
    now = "2026-12-01 00:00:00.000000"
    secret = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO admin_users (id, email, password_hash, totp_secret, totp_enabled,"
                " active, created_at) VALUES (3, 'ops@example.com', 'x', :s, 1, 1, :now)"
            ),
            {"s": secret, "now": now},
        )
        for tenant_id, status, verified, index in (
            (1, "pending_verification", None, "a" * 64),
            (2, "pending_verification", now, "b" * 64),
            (3, "active", now, "c" * 64),
        ):
            conn.execute(
                text(
                    "INSERT INTO tenants (id, display_name, contact_email, username_index,"
                    " status, invoice_creation_allowed, verified_at, created_at, updated_at)"
                    " VALUES (:id, 'Shop', 'a@shop.test', :index, :status, 0, :verified,"
                    " :now, :now)"
                ),
                {
                    "id": tenant_id,
                    "index": index,
                    "status": status,
                    "verified": verified,
                    "now": now,
                },
            )
    command.upgrade(config, "0008")
    with engine.connect() as conn:
        row = conn.execute(text("SELECT * FROM admin_users WHERE id = 3")).mappings().one()
        tenants = conn.execute(
            text("SELECT id, username_index, pending_username_index FROM tenants ORDER BY id")
        ).all()
    assert "totp_secret" not in row
    assert secret.encode() not in bytes(row["totp_secret_sealed"])
    vault = Vault.from_settings(load_settings())
    opened = vault.open_secret(
        TOTP_PURPOSE, 3, row["totp_kek_id"], bytes(row["totp_secret_sealed"])
    )
    assert opened == secret
    assert [tuple(t) for t in tenants] == [
        (1, None, "a" * 64),  # never verified: claims its username no longer
        (2, "b" * 64, None),  # re-verification of a verified tenant keeps its claim
        (3, "c" * 64, None),
    ]
    command.downgrade(config, "0006")
    with engine.connect() as conn:
        restored = conn.execute(text("SELECT totp_secret FROM admin_users")).scalar_one()
        claimed = conn.execute(text("SELECT username_index FROM tenants WHERE id = 1")).scalar()
    assert (restored, claimed) == (secret, "a" * 64)
    engine.dispose()


def test_revision_0008_needs_the_vault_keys_only_to_seal_existing_secrets(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from billhive.config import ConfigError

    for name in ("BILLHIVE_VAULT_KEYS", "BILLHIVE_BLIND_INDEX_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BILLHIVE_INSTANCE_PATH", str(tmp_path))
    empty = f"sqlite:///{tmp_path}/empty.db"
    command.upgrade(alembic_config(empty), "head")  # nothing to seal: no keys needed
    url = f"sqlite:///{tmp_path}/keys.db"
    command.upgrade(alembic_config(url), "0006")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO admin_users (id, email, password_hash, totp_secret, totp_enabled,"
                " active, created_at) VALUES (1, 'a@b.c', 'x', 'JBSWY3DPEHPK3PXP', 1, 1,"
                " '2026-12-01 00:00:00')"
            )
        )
    engine.dispose()
    with pytest.raises(ConfigError, match="BILLHIVE_VAULT_KEYS"):
        command.upgrade(alembic_config(url), "head")


def test_revision_0012_seals_existing_payloads_and_contact_emails_and_purges_deleted_tenants(
    tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from alembic import command
    from sqlalchemy import create_engine, text

    from billhive.config import generate_dev_secrets, load_settings
    from billhive.tenants.vault import FIELD_CONTACT_EMAIL, Vault

    for name, value in generate_dev_secrets().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BILLHIVE_INSTANCE_PATH", str(tmp_path))
    vault = Vault.from_settings(load_settings())
    url = f"sqlite:///{tmp_path}/0012.db"
    config = alembic_config(url)
    command.upgrade(config, "0011")
    engine = create_engine(url)
    now = "2026-12-01 00:00:00.000000"
    sealed = vault.seal(1, "owner@shop.test", "Secret#Pass-2026")
    with engine.begin() as conn:
        for tenant_id, status in ((1, "active"), (2, "deleted")):
            conn.execute(
                text(
                    "INSERT INTO tenants (id, display_name, contact_email, status,"
                    " invoice_creation_allowed, created_at, updated_at)"
                    " VALUES (:id, 'Erikas Laden', :email, :status, 0, :now, :now)"
                ),
                {
                    "id": tenant_id,
                    "email": f"erika{tenant_id}@laden.test",
                    "status": status,
                    "now": now,
                },
            )
        conn.execute(
            text(
                "INSERT INTO tenant_credentials (tenant_id, kek_id, wrapped_key, username_sealed,"
                " password_sealed, updated_at) VALUES (1, :kek, :key, :u, :p, :now)"
            ),
            {
                "kek": sealed.kek_id,
                "key": sealed.wrapped_key,
                "u": sealed.username_sealed,
                "p": sealed.password_sealed,
                "now": now,
            },
        )
        for call_id, tenant_id in ((1, 1), (2, 2)):
            conn.execute(
                text(
                    "INSERT INTO calls (id, tenant_id, operation, params, body, result, status,"
                    " attempts, result_truncated, enqueued_at) VALUES (:id, :t, 'orders.add_tags',"
                    ' \'{"id": 7}\', \'{"Tags": ["Kundin Mia"]}\', \'["mia@kundin.test"]\','
                    " 'succeeded', 1, 0, :now)"
                ),
                {"id": call_id, "t": tenant_id, "now": now},
            )
    command.upgrade(config, "0012")
    with engine.connect() as conn:
        calls = conn.execute(text("SELECT * FROM calls ORDER BY id")).mappings().all()
        tenants = conn.execute(text("SELECT * FROM tenants ORDER BY id")).mappings().all()
    dump = b" ".join(
        bytes(v) if isinstance(v, bytes) else str(v).encode()
        for row in [*calls, *tenants]
        for v in row.values()
    )
    for plain in (b"Kundin Mia", b"mia@kundin.test", b"erika1@laden", b"erika2@laden"):
        assert plain not in dump
    key = vault.tenant_key(1, sealed.kek_id, sealed.wrapped_key)
    assert key.open("call:1:body", bytes(calls[0]["body_sealed"])) == b'{"Tags":["Kundin Mia"]}'
    email = vault.open_field(
        1,
        FIELD_CONTACT_EMAIL,
        sealed.kek_id,
        sealed.wrapped_key,
        bytes(tenants[0]["contact_email_sealed"]),
    )
    assert email == "erika1@laden.test"
    assert calls[1]["payload_purged_at"] is not None and calls[1]["body_sealed"] is None
    assert tenants[1]["display_name"] == "deleted tenant #2"
    command.downgrade(config, "0011")
    with engine.connect() as conn:
        body, params = conn.execute(text("SELECT body, params FROM calls WHERE id = 1")).one()
        restored = conn.execute(text("SELECT contact_email FROM tenants WHERE id = 1")).scalar()
    assert (json.loads(body), json.loads(params), restored) == (
        {"Tags": ["Kundin Mia"]},
        {"id": 7},
        "erika1@laden.test",
    )
    engine.dispose()


def test_revision_0017_keeps_the_announced_events_sequence_their_id_and_drops_seq_again(
    tmp_path: object,
) -> None:
    from alembic import command
    from sqlalchemy import create_engine, inspect, text

    url = f"sqlite:///{tmp_path}/seq.db"
    config = alembic_config(url)
    command.upgrade(config, "0016")
    engine = create_engine(url)
    now = "2026-12-01 00:00:00.000000"
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO tenants (id, display_name, status, invoice_creation_allowed,"
                " reconnect_link_serial, budget_hard, created_at, updated_at)"
                " VALUES (1, 'Shop', 'active', 0, 0, 0, :now, :now)"
            ),
            {"now": now},
        )
        for event_id, announced in ((3, now), (5, None), (8, now), (9, now)):
            conn.execute(
                text(
                    "INSERT INTO feed_events (id, event_id, tenant_id, resource, type,"
                    " record_id, created_at, announced_at)"
                    " VALUES (:id, :eid, 1, 'orders', 'order.changed', '1', :now, :announced)"
                ),
                {"id": event_id, "eid": f"evt_{event_id}", "now": now, "announced": announced},
            )
    command.upgrade(config, "0017")
    with engine.connect() as conn:
        seqs = conn.execute(text("SELECT id, seq FROM feed_events ORDER BY id")).all()
    assert [tuple(row) for row in seqs] == [(3, 3), (5, None), (8, 8), (9, 9)]
    command.downgrade(config, "0016")
    columns = {c["name"] for c in inspect(engine).get_columns("feed_events")}
    assert "seq" not in columns
    engine.dispose()
