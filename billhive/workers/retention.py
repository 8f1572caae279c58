"""Retention: the payloads of finished calls are purged after BILLHIVE_PAYLOAD_RETENTION_DAYS.

A call's parameters, body and result name end customers; nobody needs them long after
the call finished. A periodic job (``billhive scheduler``, every RETENTION_INTERVAL_SECONDS)
clears them in batches of BILLHIVE_PAYLOAD_PURGE_BATCH calls, each batch its own short
transaction, oldest first through the partial index ``ix_calls_unpurged_finished_at``
(purged rows leave it, so a run costs what there is to purge, not what was ever stored).
It also purges every call of a deleted tenant, whatever path deleted it.

What stays is the audit trail: operation, status, attempts, timings, errors, the ordering
key, and the audit log. Readers (API, dashboard, callbacks) show purged payloads as purged.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.logs import get_logger
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers.models import Call
from billhive.workers.payloads import purge_values

log = get_logger(__name__)

#: How often the retention job runs.
RETENTION_INTERVAL_SECONDS = 3600
#: Longest a run keeps purging; the next run goes on where it stopped.
TIME_BUDGET_SECONDS = 60.0


@dataclass
class PurgeReport:
    """What one run purged."""

    expired: int = 0
    of_deleted_tenants: int = 0
    batches: int = 0


def _purge_batch(session: Session, ids: list[int], now: datetime) -> int:
    # No version bump: purging is no step in a call's life (see payloads.purge_tenant_payloads).
    done = session.execute(
        update(Call)
        .where(Call.id.in_(ids), Call.payload_purged_at.is_(None))
        .values(**purge_values(now))
        .execution_options(synchronize_session=False)
    )
    session.commit()
    return int(done.rowcount or 0)  # type: ignore[attr-defined]


def purge_expired_payloads(
    session: Session,
    *,
    retention: timedelta,
    batch: int,
    now: datetime | None = None,
    budget: float = TIME_BUDGET_SECONDS,
) -> PurgeReport:
    """Purge the payloads of calls that finished more than ``retention`` ago, and of every
    call of a deleted tenant, ``batch`` calls per transaction (commits)."""
    now = now or utcnow()
    report = PurgeReport()
    deadline = time.monotonic() + budget
    cutoff = now - retention
    queries = [
        (
            "expired",
            select(Call.id)
            .where(
                Call.payload_purged_at.is_(None),
                Call.finished_at.is_not(None),
                Call.finished_at < cutoff,
            )
            .order_by(Call.finished_at),
        ),
        (
            "of_deleted_tenants",
            select(Call.id)
            .join(Tenant, Tenant.id == Call.tenant_id)
            .where(Tenant.status == TenantStatus.DELETED, Call.payload_purged_at.is_(None))
            .order_by(Call.id),
        ),
    ]
    for name, query in queries:
        while time.monotonic() < deadline:
            ids = list(session.scalars(query.limit(batch)))
            if not ids:
                break
            setattr(report, name, getattr(report, name) + _purge_batch(session, ids, now))
            report.batches += 1
            if len(ids) < batch:
                break
    if report.expired or report.of_deleted_tenants:
        log.info(
            "payloads_purged",
            expired=report.expired,
            of_deleted_tenants=report.of_deleted_tenants,
            batches=report.batches,
        )
    return report


def purge_payloads() -> dict[str, int]:
    """Cron job: one retention run with this worker's runtime and settings."""
    from billhive.workers.runtime import get_runtime

    rt = get_runtime()
    with rt.database.session() as session:
        report = purge_expired_payloads(
            session,
            retention=timedelta(days=rt.settings.payload_retention_days),
            batch=rt.settings.payload_purge_batch,
        )
    return {
        "expired": report.expired,
        "of_deleted_tenants": report.of_deleted_tenants,
        "batches": report.batches,
    }
