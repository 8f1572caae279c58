"""Re-wrapping every tenant data key under the vault's active key (key rotation).

Only ``kek_id`` and ``wrapped_key`` change: the data keys themselves, and so every sealed
username and password, stay as they are. Work goes in batches, each committed on its own,
so an interrupted rotation resumes where it stopped, and running it again when everything
is already on the active key does nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from sqlalchemy import Table, bindparam, func, select, update
from sqlalchemy.orm import Session

from billhive.db import Database, utcnow
from billhive.tenants.models import TenantCredentials
from billhive.tenants.vault import Vault

DEFAULT_BATCH_SIZE = 2000
#: Key of ``click.Context.meta`` under which the command line lists the
#: :class:`ExtraSealed` secrets that ``vault status`` and ``vault rotate`` cover as well.
EXTRA_SEALED_META = "billhive.vault.extra_sealed"


class ExtraSealed(Protocol):
    """Secrets outside ``tenant_credentials`` that a vault key seals directly (admins' TOTP
    secrets): the parts that own them describe them, the vault commands rotate them."""

    label: str

    def key_counts(self, session: Session) -> Mapping[str, int]:
        """How many of these secrets each vault key id seals."""

    def rotate(self, session: Session, vault: Vault) -> int:
        """Seal every one not under the active key again under it; returns how many."""


#: Called after every batch with (done, total).
Progress = Callable[[int, int], None]

_credentials: Table = TenantCredentials.__table__  # type: ignore[assignment]
# Guarded by the old key id, so two rotations running at once cannot undo each other.
_REWRAP = (
    update(_credentials)
    .where(
        _credentials.c.tenant_id == bindparam("b_tenant_id"),
        _credentials.c.kek_id == bindparam("b_old_kek_id"),
    )
    .values(
        kek_id=bindparam("b_kek_id"),
        wrapped_key=bindparam("b_wrapped_key"),
        updated_at=bindparam("b_updated_at"),
    )
)


@dataclass(frozen=True)
class RotationResult:
    """How a rotation went: keys re-wrapped, keys that were due, and seconds taken."""

    rewrapped: int
    total: int
    seconds: float


def key_counts(session: Session) -> dict[str, int]:
    """How many data keys each vault key id wraps (``vault status``)."""
    rows = session.execute(
        select(TenantCredentials.kek_id, func.count()).group_by(TenantCredentials.kek_id)
    )
    return {kek_id: count for kek_id, count in rows}


def pending_count(session: Session, active_id: str) -> int:
    """Data keys not yet wrapped by ``active_id``."""
    query = select(func.count()).where(TenantCredentials.kek_id != active_id)
    return int(session.execute(query).scalar_one())


def rotate(
    database: Database,
    vault: Vault,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    progress: Progress | None = None,
    max_batches: int | None = None,
) -> RotationResult:
    """Re-wrap every data key that is not under the active key, batch by batch.

    ``max_batches`` stops early (tests use it to simulate an interruption). A missing key
    id raises :class:`~billhive.tenants.errors.VaultError` naming it, after the batches
    before it were committed.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    active = vault.keyring.active_id
    started = time.monotonic()
    with database.session() as session:
        total = pending_count(session, active)
    done = 0
    last_id = 0
    batches = 0
    if progress:
        progress(done, total)
    while max_batches is None or batches < max_batches:
        # Keyset paging over the primary key: each batch costs the same however far we are.
        with database.session() as session:
            rows = session.execute(
                select(
                    TenantCredentials.tenant_id,
                    TenantCredentials.kek_id,
                    TenantCredentials.wrapped_key,
                )
                .where(TenantCredentials.tenant_id > last_id, TenantCredentials.kek_id != active)
                .order_by(TenantCredentials.tenant_id)
                .limit(batch_size)
            ).all()
            if not rows:
                break
            now = utcnow()
            params: list[dict[str, Any]] = []
            for tenant_id, kek_id, wrapped in rows:
                new_kek_id, new_wrapped = vault.rewrap(tenant_id, kek_id, wrapped)
                params.append(
                    {
                        "b_tenant_id": tenant_id,
                        "b_old_kek_id": kek_id,
                        "b_kek_id": new_kek_id,
                        "b_wrapped_key": new_wrapped,
                        "b_updated_at": now,
                    }
                )
            session.connection().execute(_REWRAP, params)
        last_id = rows[-1][0]
        done += len(rows)
        batches += 1
        # Rows added under an old key during the run (a stale process) are done too.
        total = max(total, done)
        if progress:
            progress(done, total)
    return RotationResult(rewrapped=done, total=total, seconds=time.monotonic() - started)
