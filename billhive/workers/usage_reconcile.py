"""The daily usage reconciliation: Billbee's count of each tenant's calls next to billhive's.

Billbee bills the API key by its own count, reported per Billbee user and month at
``GET /apiusage``. Once per ``BILLHIVE_USAGE_RECONCILE_HOURS`` every active tenant's count
is read on the tenant's own queue, within its limits (like the re-verification: the cron
job queues just enough tenants per run that all come round once per period), and stored
next to billhive's count of the month (``usage_days``) in ``usage_reconciliations``. The
read is a billed Billbee call itself and is counted like any other.

Expected differences: calls billhive makes outside the workers (signup and reconnect
verification) and calls in flight while the counts are read; hence a threshold of a share
(``BILLHIVE_USAGE_DIFF_THRESHOLD_PERCENT``) and of :data:`MIN_FLAGGED_DIFFERENCE` calls. A
larger difference means the tenant's account used billhive's API key elsewhere, or calls
went uncounted: the dashboard shows it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from billhive.billbee.operations import get_operation
from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers import gates
from billhive.workers.calls import call_buckets
from billhive.workers.jobs import scoped_client, send
from billhive.workers.queues import enqueue_for_tenant
from billhive.workers.recording import count_usage
from billhive.workers.runtime import Runtime, get_runtime
from billhive.workers.scheduling.dispatcher import BACKGROUND, READ
from billhive.workers.usage_models import UsageReconciliation

USAGE_OPERATION = "api_usage.summary"
CRON_INTERVAL_SECONDS = 300
#: Differences up to this many calls are never flagged (verification calls, calls in flight).
MIN_FLAGGED_DIFFERENCE = 50
_WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def reconcile_job_id(tenant_id: int) -> str:
    """One reconciliation per tenant at a time."""
    return f"reconcile-usage-{tenant_id}"


def usage_params(first: date) -> dict[str, str]:
    """The query of ``GET /apiusage`` for the month starting on ``first``."""
    return {"request.date": f"{first.isoformat()}T00:00:00"}


def is_flagged(billbee: int | None, billhive: int, threshold_percent: float) -> bool:
    """Whether Billbee's and billhive's counts differ by more than the threshold."""
    if billbee is None:
        return False
    difference = abs(billbee - billhive)
    return difference > MIN_FLAGGED_DIFFERENCE and difference > billhive * threshold_percent / 100


def queue_due_reconciliations() -> int:
    """Cron job: queue the reconciliation of the tenants checked longest ago."""
    return queue_due(get_runtime())


def queue_due(rt: Runtime, now: datetime | None = None) -> int:
    """The body of :func:`queue_due_reconciliations`; returns how many were queued."""
    now = now or utcnow()
    first = gates.month_start(now.date())
    period = rt.settings.usage_reconcile_hours * 3600
    cutoff = now - timedelta(seconds=period)
    with rt.database.session() as session:
        active = session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.status == TenantStatus.ACTIVE)
        )
        checked = UsageReconciliation
        due = session.scalars(
            select(Tenant.id)
            .outerjoin(checked, and_(checked.tenant_id == Tenant.id, checked.month == first))
            .where(
                Tenant.status == TenantStatus.ACTIVE,
                or_(checked.checked_at.is_(None), checked.checked_at < cutoff),
            )
            .order_by(checked.checked_at.asc().nulls_first(), Tenant.id)
            .limit(_batch_size(active or 0, period))
        ).all()
    operation = get_operation(USAGE_OPERATION)
    queued = 0
    for tenant_id in due:
        if _already_waiting(rt, tenant_id):
            continue
        enqueue_for_tenant(
            rt.redis,
            str(tenant_id),
            "billhive.workers.usage_reconcile.reconcile_tenant",
            args=(tenant_id,),
            buckets=call_buckets(operation, usage_params(first), tenant_id),
            job_id=reconcile_job_id(tenant_id),
            lane=BACKGROUND,
            order=READ,
            result_ttl=3600,
            description=f"reconcile Billbee usage of tenant {tenant_id}",
        )
        queued += 1
    return queued


def _batch_size(active: int, period_seconds: float) -> int:
    runs = max(1.0, period_seconds / CRON_INTERVAL_SECONDS)
    return math.ceil(active / runs) if active else 0


def _already_waiting(rt: Runtime, tenant_id: int) -> bool:
    try:
        job = Job.fetch(reconcile_job_id(tenant_id), connection=rt.redis)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in _WAITING


def billbee_count(answer: Any) -> int | None:
    """The calls of all the account's users in ``GET /apiusage``'s answer (bare, as
    Billbee sends it, or inside the envelope's Data); None when it holds no summaries."""
    if isinstance(answer, dict) and "Summaries" not in answer and "Data" in answer:
        answer = answer["Data"]
    summaries = answer.get("Summaries") if isinstance(answer, dict) else None
    if not isinstance(summaries, list):
        return None
    total = 0
    for row in summaries:
        data = row.get("Data") if isinstance(row, dict) else None
        count = data.get("Count") if isinstance(data, dict) else None
        if isinstance(count, int) and not isinstance(count, bool):
            total += count
    return total


@dataclass(frozen=True)
class Reconciled:
    """What one reconciliation found (for the job's result)."""

    tenant_id: int
    month: date
    billbee_calls: int | None
    billhive_calls: int
    error: str | None

    def as_dict(self) -> dict[str, Any]:
        """The job's result (plain data)."""
        return {
            "tenant_id": self.tenant_id,
            "month": self.month.isoformat(),
            "billbee_calls": self.billbee_calls,
            "billhive_calls": self.billhive_calls,
            "error": self.error,
        }


def reconcile_tenant(tenant_id: int) -> dict[str, Any]:
    """RQ job on the tenant's queue: read Billbee's count of the month and store it."""
    return reconcile(get_runtime(), tenant_id).as_dict()


def reconcile(rt: Runtime, tenant_id: int) -> Reconciled:
    """The body of :func:`reconcile_tenant`."""
    first = gates.month_start()
    with rt.database.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or tenant.status is not TenantStatus.ACTIVE:
            return Reconciled(tenant_id, first, None, 0, "skipped: tenant not active")
        with scoped_client(rt, session, tenant_id) as client:
            session.commit()
            attempt = send(client, get_operation(USAGE_OPERATION), usage_params(first), None)
        count_usage(
            session, rt.redis, tenant_id, reached=attempt.reached_billbee, error=attempt.error
        )
        session.commit()  # the read counts in billhive's figure as it does in Billbee's
        billhive = gates.calls_this_month(session, tenant_id, first)
        billbee = billbee_count(attempt.response.raw) if attempt.response else None
        error = None
        if attempt.error is not None:
            error = str(attempt.error)
        elif billbee is None:
            error = "Billbee's answer held no usage summaries"
        _store(session, tenant_id, first, billbee=billbee, billhive=billhive, error=error)
        return Reconciled(tenant_id, first, billbee, billhive, error)


def _store(
    session: Session,
    tenant_id: int,
    first: date,
    *,
    billbee: int | None,
    billhive: int,
    error: str | None,
) -> None:
    row = session.get(UsageReconciliation, (tenant_id, first))
    if row is None:
        row = UsageReconciliation(tenant_id=tenant_id, month=first)
        session.add(row)
    if billbee is not None or row.billbee_calls is None:
        row.billbee_calls = billbee
        row.billhive_calls = billhive
    row.checked_at = utcnow()
    row.error = error
    session.commit()


def latest(session: Session, tenant_id: int) -> UsageReconciliation | None:
    """The tenant's most recent reconciliation."""
    return session.scalars(
        select(UsageReconciliation)
        .where(UsageReconciliation.tenant_id == tenant_id)
        .order_by(UsageReconciliation.month.desc())
        .limit(1)
    ).first()


def flagged(
    session: Session, first: date, threshold_percent: float, limit: int = 10
) -> tuple[int, list[UsageReconciliation]]:
    """How many tenants' counts of the month differ above the threshold, and the first
    ``limit`` of them, largest difference first."""
    difference = func.abs(UsageReconciliation.billbee_calls - UsageReconciliation.billhive_calls)
    condition = and_(
        UsageReconciliation.month == first,
        UsageReconciliation.billbee_calls.is_not(None),
        difference > MIN_FLAGGED_DIFFERENCE,
        difference * 100 > UsageReconciliation.billhive_calls * threshold_percent,
    )
    count = session.scalar(select(func.count()).select_from(UsageReconciliation).where(condition))
    rows = session.scalars(
        select(UsageReconciliation)
        .where(condition)
        .order_by(difference.desc(), UsageReconciliation.tenant_id)
        .limit(limit)
    ).all()
    return int(count or 0), list(rows)
