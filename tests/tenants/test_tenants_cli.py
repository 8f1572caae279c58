"""``billhive vault ...`` and ``billhive tenants ...`` run against the test database."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.cli import main
from billhive.config import Settings
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.rotation import key_counts
from billhive.tenants.vault import Keyring, Vault

Run = Callable[..., Result]


@pytest.fixture
def cli_env(database_url: str, test_secrets: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """The environment the CLI reads its settings from (test database and secrets)."""
    env = {f"BILLHIVE_{k.upper()}": v for k, v in test_secrets.items()}
    env.update(
        BILLHIVE_ENV="test",
        BILLHIVE_INSTANCE_PATH=str(tmp_path / "cli-instance"),
        BILLHIVE_DATABASE_URL=database_url,
    )
    return env


@pytest.fixture
def run(cli_env: dict[str, str], settings: Settings) -> Run:
    """Invoke ``billhive`` with extra environment variables on top of the test's."""

    def invoke(*args: str, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        runner = CliRunner()
        return runner.invoke(main, list(args), env={**cli_env, **(env or {})}, input=input)

    return invoke


def test_new_key_prints_an_entry_the_keyring_accepts(run: Run) -> None:
    result = run("vault", "new-key", "--id", "k2")
    entry = result.stdout.strip()
    assert result.exit_code == 0
    assert Keyring.parse(entry).active_id == "k2"


def test_new_key_refuses_an_id_with_a_colon(run: Run) -> None:
    result = run("vault", "new-key", "--id", "a:b")
    assert result.exit_code == 2
    assert "may not be empty or contain" in result.output


def test_status_counts_wrapped_keys_per_key_id(run: Run, make_tenant, vault: Vault) -> None:
    for _ in range(3):
        make_tenant(vault)
    result = run("vault", "status")
    assert result.exit_code == 0
    assert (
        "dev1: 3 wrapped data keys, 0 admin TOTP secrets, 0 feed webhook secrets  (active)"
        in result.stdout
    )
    assert "to rotate: 0" in result.stdout


def test_rotate_reseals_admin_totp_secrets_under_the_new_key_too(
    run: Run, cli_env: dict[str, str], vault: Vault, session: Session
) -> None:
    from billhive.platform.admin.accounts import create_admin
    from billhive.platform.admin.models import TOTP_PURPOSE
    from billhive.platform.admin.totp import start_totp_enrolment

    admin = create_admin(session, "ops@example.com", "correct horse battery staple")
    secret = start_totp_enrolment(session, vault, admin).secret
    new_entry = "k2:" + base64.b64encode(os.urandom(32)).decode()
    keys = f"{new_entry},{cli_env['BILLHIVE_VAULT_KEYS']}"
    before = run("vault", "status", env={"BILLHIVE_VAULT_KEYS": keys})
    assert "dev1: 0 wrapped data keys, 1 admin TOTP secrets" in before.stdout
    assert "to rotate: 1" in before.stdout
    result = run("vault", "rotate", env={"BILLHIVE_VAULT_KEYS": keys})
    assert result.exit_code == 0, result.output
    assert "Re-sealed 1 admin TOTP secrets under k2" in result.stdout
    session.expire_all()
    assert admin.totp_kek_id == "k2" and admin.totp_secret_sealed is not None
    only_new = Vault(Keyring.parse(new_entry), b"\x01" * 32)
    assert only_new.open_secret(TOTP_PURPOSE, admin.id, "k2", admin.totp_secret_sealed) == secret


def test_rotate_rewraps_every_key_under_a_new_first_key(
    run: Run, cli_env: dict[str, str], make_tenant, vault: Vault, session: Session
) -> None:
    for _ in range(5):
        make_tenant(vault)
    new_entry = "k2:" + base64.b64encode(os.urandom(32)).decode()
    keys = f"{new_entry},{cli_env['BILLHIVE_VAULT_KEYS']}"
    result = run("vault", "rotate", "--batch-size", "2", env={"BILLHIVE_VAULT_KEYS": keys})
    assert result.exit_code == 0, result.output
    assert "Re-wrapped 5 data keys under k2" in result.stdout
    session.expire_all()
    assert key_counts(session) == {"k2": 5}


def test_status_flags_a_key_id_missing_from_the_keyring(
    run: Run, make_tenant, vault: Vault
) -> None:
    make_tenant(vault)
    other = "k9:" + base64.b64encode(os.urandom(32)).decode()
    result = run("vault", "status", env={"BILLHIVE_VAULT_KEYS": other})
    assert (
        "dev1: 1 wrapped data keys, 0 admin TOTP secrets, 0 feed webhook secrets  "
        "(MISSING from BILLHIVE_VAULT_KEYS)" in (result.stdout)
    )


def test_rotate_without_the_old_key_fails_naming_it(run: Run, make_tenant, vault: Vault) -> None:
    make_tenant(vault)
    other = "k9:" + base64.b64encode(os.urandom(32)).decode()
    result = run("vault", "rotate", env={"BILLHIVE_VAULT_KEYS": other})
    assert result.exit_code == 1
    assert "'dev1' is not in the keyring" in result.output


def test_a_malformed_keyring_is_reported_without_a_traceback(run: Run) -> None:
    result = run("vault", "status", env={"BILLHIVE_VAULT_KEYS": "k1:???"})
    assert result.exit_code == 1
    assert "Vault key 'k1' is not valid base64" in result.output


def test_tenants_list_shows_tenants_but_no_username(run: Run, make_tenant, vault: Vault) -> None:
    tenant = make_tenant(vault, username="hidden@shop.example")
    result = run("tenants", "list")
    assert result.exit_code == 0
    assert f"{tenant.id}\tactive\t{tenant.display_name}" in result.stdout
    assert "hidden@shop.example" not in result.output


def test_tenants_list_filters_by_status(run: Run, make_tenant, vault: Vault) -> None:
    make_tenant(vault)
    paused = make_tenant(vault, status=TenantStatus.PAUSED)
    result = run("tenants", "list", "--status", "paused")
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [str(paused.id)]


def test_tenants_delete_shreds_the_credentials(
    run: Run, make_tenant, vault: Vault, session: Session
) -> None:
    tenant = make_tenant(vault)
    result = run("tenants", "delete", str(tenant.id), "--reason", "asked", "--yes")
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert session.scalar(select(func.count()).select_from(TenantCredentials)) == 0
    assert session.get(Tenant, tenant.id).status == TenantStatus.DELETED  # type: ignore[union-attr]


def test_tenants_delete_asks_for_confirmation(
    run: Run, make_tenant, vault: Vault, session: Session
) -> None:
    tenant = make_tenant(vault)
    result = run("tenants", "delete", str(tenant.id), "--reason", "asked", input="n\n")
    assert result.exit_code == 1
    session.expire_all()
    assert session.get(Tenant, tenant.id).status == TenantStatus.ACTIVE  # type: ignore[union-attr]


def test_tenants_delete_of_an_unknown_id_says_so(run: Run) -> None:
    result = run("tenants", "delete", "4242", "--reason", "typo", "--yes")
    assert result.exit_code == 1
    assert "Tenant 4242 does not exist" in result.output


def test_reconnect_link_prints_a_link_for_the_tenant(run: Run, make_tenant, vault: Vault) -> None:
    tenant = make_tenant(vault, status=TenantStatus.CREDENTIALS_INVALID)
    result = run("tenants", "reconnect-link", str(tenant.id))
    assert result.exit_code == 0, result.output
    assert "/signup/reconnect/" in result.stdout


def test_reconnect_link_refuses_a_deleted_tenant(run: Run, make_tenant, vault: Vault) -> None:
    tenant = make_tenant(vault, status=TenantStatus.DELETED)
    result = run("tenants", "reconnect-link", str(tenant.id))
    assert result.exit_code == 1
    assert "deleted" in result.output
