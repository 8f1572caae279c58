"""Shared set-up of the benchmarks: a throw-away PostgreSQL database, bulk tenants, waiting
for a server."""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from billhive.db import Database, make_engine, upgrade, utcnow
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.vault import FIELD_CONTACT_EMAIL, Vault

DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
INSERT_CHUNK = 10_000


@contextmanager
def fresh_database(url: str | None, label: str, workdir: Path | None = None) -> Iterator[str]:
    """A new, migrated database: on ``url``'s PostgreSQL server (dropped afterwards), or,
    for an empty or SQLite ``url``, a SQLite file in ``workdir``."""
    if not url or url.startswith("sqlite"):
        if workdir is None:
            raise ValueError("a SQLite benchmark database needs a work directory")
        sqlite_url = f"sqlite:///{workdir / f'bench-{label}.db'}"
        upgrade(sqlite_url)
        yield sqlite_url
        return
    name = f"billhive_bench_{label}_{uuid.uuid4().hex[:8]}"
    admin = make_engine(make_url(url).set(database="postgres").render_as_string(False), pool=False)
    with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    bench_url = make_url(url).set(database=name).render_as_string(hide_password=False)
    try:
        upgrade(bench_url)
        yield bench_url
    finally:
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def bench_username(tenant_id: int) -> str:
    """The Billbee username of benchmark tenant ``tenant_id``."""
    return f"merchant{tenant_id}@bench.example"


def bench_password(tenant_id: int) -> str:
    """The API password of benchmark tenant ``tenant_id`` (fits Billbee's rules)."""
    return f"Bench!Pass{tenant_id}x"


def create_tenants(database: Database, vault: Vault, count: int, first_id: int = 1) -> float:
    """Bulk-insert ``count`` active tenants sealed by ``vault``; returns seconds taken."""
    started = time.perf_counter()
    now = utcnow()
    last = first_id + count - 1
    for first in range(first_id, last + 1, INSERT_CHUNK):
        ids = range(first, min(first + INSERT_CHUNK, last + 1))
        tenants, secrets = [], []
        for tenant_id in ids:
            username = bench_username(tenant_id)
            tenants.append(
                {
                    "id": tenant_id,
                    "display_name": f"Shop {tenant_id}",
                    "username_index": vault.blind_index(username),
                    "status": TenantStatus.ACTIVE,
                    "invoice_creation_allowed": False,
                    "verified_at": now,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            sealed = vault.seal(tenant_id, username, bench_password(tenant_id))
            email = f"owner{tenant_id}@bench.example"
            tenants[-1]["contact_email_sealed"] = vault.seal_field(
                tenant_id, FIELD_CONTACT_EMAIL, sealed.kek_id, sealed.wrapped_key, email
            )
            tenants[-1]["contact_email_index"] = vault.email_index(email)
            secrets.append({"tenant_id": tenant_id, "updated_at": now, **sealed._asdict()})
        with database.engine.begin() as conn:
            conn.execute(insert(Tenant), tenants)
            conn.execute(insert(TenantCredentials), secrets)
    if database.engine.dialect.name != "postgresql":
        return time.perf_counter() - started  # SQLite's ids follow the largest one given
    with database.engine.begin() as conn:
        # Ids were given explicitly: move the sequence past them, as a real database would be.
        conn.execute(
            text("SELECT setval(pg_get_serial_sequence('tenants', 'id'), :n)"), {"n": last}
        )
        conn.execute(text("ANALYZE tenants; ANALYZE tenant_credentials"))
    return time.perf_counter() - started


def wait_http(url: str, timeout: float = 60) -> None:
    """Wait until ``url`` answers 200 (RuntimeError after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not come up")
