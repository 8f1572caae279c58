"""Vault figures on PostgreSQL, printed as JSON.

* ``vault rotate`` over N tenants (default 100,000): every data key re-wrapped from an old
  key-encryption key to a new one, in committed batches. Target: <= 60 s.
* Opening one tenant's password: unwrapping its data key and opening the sealed password
  (median over many tenants). Target: <= 0.2 ms. Also reported: the same including the
  database read (``open_credentials``), for context.
* Sealing a 64 KiB call result (the largest kept, ``RESULT_MAX_CHARS``) with the tenant's
  unwrapped data key, and opening it. Target: sealing <= 0.1 ms median. Also reported:
  the data-key unwrap a job pays once, and sealing including the JSON encoding.
  ``--payload-only`` measures just this part (no database).

The tenants are created fast by bulk-inserting rows sealed under the old key into a fresh,
migrated database, which is dropped afterwards.

    .venv/bin/python benchmarks/bench_vault.py [--tenants 100000] [--database-url URL]
    .venv/bin/python benchmarks/bench_vault.py --payload-only
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

from common import DEFAULT_DATABASE_URL, create_tenants, fresh_database
from sqlalchemy import func, select

from billhive.db import Database
from billhive.tenants.models import TenantCredentials
from billhive.tenants.rotation import rotate
from billhive.tenants.service import open_credentials
from billhive.tenants.vault import FIELD_PASSWORD, Keyring, Vault
from billhive.workers import payloads
from billhive.workers.models import RESULT_MAX_CHARS


def median_ms(samples_ns: list[int]) -> dict[str, float]:
    """Median and p99 of nanosecond samples, in milliseconds."""
    ordered = sorted(samples_ns)
    return {
        "median_ms": round(statistics.median(ordered) / 1e6, 4),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] / 1e6, 4),
    }


def time_calls(call: Callable[[int], Any], tenant_ids: list[int]) -> list[int]:
    """Nanoseconds of ``call(tenant_id)`` for each id (after a short warm-up)."""
    for tenant_id in tenant_ids[:200]:
        call(tenant_id)
    samples = []
    for tenant_id in tenant_ids:
        started = time.perf_counter_ns()
        call(tenant_id)
        samples.append(time.perf_counter_ns() - started)
    return samples


def measure_open(database: Database, vault: Vault, count: int, samples: int) -> dict[str, Any]:
    """Time opening a password from a loaded row, and with the database read included."""
    step = max(count // samples, 1)
    tenant_ids = list(range(1, count + 1, step))[:samples]
    with database.session() as session:
        rows = {
            r.tenant_id: r
            for r in session.scalars(
                select(TenantCredentials).where(TenantCredentials.tenant_id.in_(tenant_ids))
            )
        }

        def open_password(tenant_id: int) -> str:
            row = rows[tenant_id]
            return vault.open_field(
                tenant_id, FIELD_PASSWORD, row.kek_id, row.wrapped_key, row.password_sealed
            )

        crypto = time_calls(open_password, tenant_ids)

    def open_with_read(tenant_id: int) -> str:
        with database.session() as session:
            return open_credentials(session, vault, tenant_id).password

    with_read = time_calls(open_with_read, tenant_ids)
    return {
        "samples": len(tenant_ids),
        "open_password": median_ms(crypto),
        "open_credentials_with_db_read": median_ms(with_read),
    }


def _result_of_64_kib() -> Any:
    """A Billbee-like order list whose JSON is just under 64 KiB (the cap on kept results),
    with end customers' names, e-mails and addresses."""
    orders, size = [], 0
    n = 0
    while True:
        order = {
            "BillBeeOrderId": 100_000 + n,
            "Customer": {"Name": f"Erika Mustermann {n}", "Email": f"erika{n}@kundin.example"},
            "InvoiceAddress": {"Street": "Hauptstraße", "Housenumber": str(n), "Zip": "80331"},
            "OrderItems": [{"Product": {"SKU": f"SKU-{n}", "Title": "Kräutertee"}, "Quantity": 2}],
        }
        size += len(payloads.encode(order).encode()) + 1
        if size > RESULT_MAX_CHARS - 16:
            return orders
        orders.append(order)
        n += 1


def measure_payload(samples: int) -> dict[str, Any]:
    """Time sealing and opening one 64 KiB result with an unwrapped tenant data key."""
    vault = Vault(Keyring({"k": os.urandom(32)}), os.urandom(32))
    sealed = vault.seal(1, "owner@shop.example", "Bench!Password#1")
    result = _result_of_64_kib()
    text = payloads.encode(result)
    key = vault.tenant_key(1, sealed.kek_id, sealed.wrapped_key)
    context = payloads.context(1, payloads.RESULT)
    box = key.seal(context, text.encode())

    def timed(step: Callable[[], Any]) -> list[int]:
        for _ in range(200):
            step()
        out = []
        for _ in range(samples):
            started = time.perf_counter_ns()
            step()
            out.append(time.perf_counter_ns() - started)
        return out

    seal = timed(lambda: key.seal(context, text.encode()))
    return {
        "result_bytes": len(text.encode()),
        "samples": samples,
        "seal_64k": median_ms(seal),
        "open_64k": median_ms(timed(lambda: key.open(context, box))),
        "seal_64k_with_json_encoding": median_ms(
            timed(lambda: key.seal(context, payloads.encode(result).encode()))
        ),
        "unwrap_data_key": median_ms(
            timed(lambda: vault.tenant_key(1, sealed.kek_id, sealed.wrapped_key))
        ),
        "target_seal_median_ms": 0.1,
        "ok": statistics.median(seal) / 1e6 <= 0.1,
    }


def main() -> int:
    """Run the benchmark and print its JSON report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tenants", type=int, default=100_000)
    parser.add_argument("--batch-size", type=int, default=2000)
    parser.add_argument("--open-samples", type=int, default=5000)
    parser.add_argument("--payload-samples", type=int, default=5000)
    parser.add_argument(
        "--payload-only", action="store_true", help="Only seal/open a 64 KiB call result."
    )
    parser.add_argument(
        "--database-url", default=os.environ.get("BILLHIVE_DATABASE_URL") or DEFAULT_DATABASE_URL
    )
    args = parser.parse_args()
    payload = measure_payload(args.payload_samples)
    if args.payload_only:
        report = {
            "benchmark": "vault",
            "python": platform.python_version(),
            "payload": payload,
        }
        print(json.dumps(report, indent=2))
        return 0
    if not args.database_url.startswith("postgresql"):
        print("bench_vault needs a PostgreSQL URL (--database-url).", file=sys.stderr)
        return 2
    old_key, new_key, blind_key = os.urandom(32), os.urandom(32), os.urandom(32)
    old_vault = Vault(Keyring({"old": old_key}), blind_key)
    new_vault = Vault(Keyring({"new": new_key, "old": old_key}), blind_key)
    with fresh_database(args.database_url, "vault") as url:
        database = Database(url)
        try:
            setup_seconds = create_tenants(database, old_vault, args.tenants)
            result = rotate(database, new_vault, batch_size=args.batch_size)
            with database.session() as session:
                left = session.scalar(select(func.count()).where(TenantCredentials.kek_id != "new"))
            opening = measure_open(database, new_vault, args.tenants, args.open_samples)
        finally:
            database.dispose()
    report = {
        "benchmark": "vault",
        "python": platform.python_version(),
        "database": "postgresql",
        "tenants": args.tenants,
        "setup_bulk_insert_s": round(setup_seconds, 2),
        "rotate": {
            "batch_size": args.batch_size,
            "rewrapped": result.rewrapped,
            "not_on_new_key_after": left,
            "seconds": round(result.seconds, 2),
            "keys_per_s": round(result.rewrapped / result.seconds) if result.seconds else None,
            "target_s": 60,
            "ok": result.seconds <= 60 and left == 0,
        },
        "open": {**opening, "target_median_ms": 0.2},
        "payload": payload,
    }
    report["open"]["ok"] = report["open"]["open_password"]["median_ms"] <= 0.2
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
