"""Key rotation: re-wrapping every data key under the active key, in batches."""

from __future__ import annotations

import os
from typing import NamedTuple

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.db import Database
from billhive.tenants.errors import VaultError
from billhive.tenants.models import TenantCredentials
from billhive.tenants.rotation import key_counts, rotate
from billhive.tenants.service import open_credentials
from billhive.tenants.vault import Keyring, Vault


class Vaults(NamedTuple):
    """One keyring before a rotation, after adding a new key, and after dropping the old."""

    old: Vault
    rotated: Vault
    new_only: Vault


@pytest.fixture
def vaults(blind_key: bytes) -> Vaults:
    old_key, new_key = os.urandom(32), os.urandom(32)
    return Vaults(
        old=Vault(Keyring({"old": old_key}), blind_key),
        rotated=Vault(Keyring({"new": new_key, "old": old_key}), blind_key),
        new_only=Vault(Keyring({"new": new_key}), blind_key),
    )


def _sealed_columns(session: Session) -> dict[int, tuple[bytes, bytes]]:
    rows = session.execute(
        select(
            TenantCredentials.tenant_id,
            TenantCredentials.username_sealed,
            TenantCredentials.password_sealed,
        )
    )
    return {tenant_id: (u, p) for tenant_id, u, p in rows}


def test_rotation_moves_every_data_key_to_the_new_key_id(
    db: Database, session: Session, make_tenant, vaults: Vaults
) -> None:
    for _ in range(7):
        make_tenant(vaults.old)
    result = rotate(db, vaults.rotated, batch_size=3)
    session.expire_all()
    assert result.rewrapped == 7
    assert key_counts(session) == {"new": 7}


def test_old_ciphertexts_still_open_after_rotation(
    db: Database, session: Session, make_tenant, vaults: Vaults
) -> None:
    tenant = make_tenant(vaults.old, username="keep@shop.example", password="Still!Open123")
    rotate(db, vaults.rotated)
    session.expire_all()
    credentials = open_credentials(session, vaults.rotated, tenant.id)
    assert (credentials.username, credentials.password) == ("keep@shop.example", "Still!Open123")


def test_rotation_leaves_the_sealed_secrets_untouched(
    db: Database, session: Session, make_tenant, vaults: Vaults
) -> None:
    for _ in range(4):
        make_tenant(vaults.old)
    before = _sealed_columns(session)
    rotate(db, vaults.rotated, batch_size=2)
    session.expire_all()
    assert _sealed_columns(session) == before


def test_after_rotation_the_old_key_can_be_dropped(
    db: Database, session: Session, make_tenant, vaults: Vaults
) -> None:
    tenant = make_tenant(vaults.old)
    rotate(db, vaults.rotated)
    session.expire_all()
    assert open_credentials(session, vaults.new_only, tenant.id).password


def test_an_interrupted_rotation_resumes_where_it_stopped(
    db: Database, session: Session, make_tenant, vaults: Vaults
) -> None:
    for _ in range(10):
        make_tenant(vaults.old)
    first = rotate(db, vaults.rotated, batch_size=4, max_batches=1)
    assert first.rewrapped == 4
    assert key_counts(session) == {"new": 4, "old": 6}
    second = rotate(db, vaults.rotated, batch_size=4)
    session.expire_all()
    assert (second.total, second.rewrapped) == (6, 6)
    assert key_counts(session) == {"new": 10}


def test_rotating_again_when_everything_is_current_changes_nothing(
    db: Database, session: Session, make_tenant, vaults: Vaults
) -> None:
    make_tenant(vaults.old)
    rotate(db, vaults.rotated)
    wrapped_before = session.scalar(select(TenantCredentials.wrapped_key))
    again = rotate(db, vaults.rotated)
    session.expire_all()
    assert again.rewrapped == 0
    assert session.scalar(select(TenantCredentials.wrapped_key)) == wrapped_before


def test_rotation_reports_progress_as_done_and_total(
    db: Database, make_tenant, vaults: Vaults
) -> None:
    for _ in range(5):
        make_tenant(vaults.old)
    seen: list[tuple[int, int]] = []
    rotate(
        db, vaults.rotated, batch_size=2, progress=lambda done, total: seen.append((done, total))
    )
    assert seen == [(0, 5), (2, 5), (4, 5), (5, 5)]


def test_rotation_without_the_old_key_names_the_missing_key_id(
    db: Database, make_tenant, vaults: Vaults
) -> None:
    make_tenant(vaults.old)
    with pytest.raises(VaultError, match="'old' is not in the keyring"):
        rotate(db, vaults.new_only)
