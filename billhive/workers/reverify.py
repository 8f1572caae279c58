"""Periodic re-verification of active tenants, spread evenly over the period.

Every minute the scheduler's cron job queues the re-verification of the tenants whose last
verification is oldest, just enough of them that every active tenant comes round once per
period. Each re-verification is a job on the tenant's own queue with the buckets of the call
it makes, so it waits its turn behind the tenant's calls and within Billbee's limits.
"""

from __future__ import annotations

import math
from datetime import timedelta
from typing import Any

from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import func, or_, select

from billhive.billbee.errors import ApiError, CredentialsRejected, ErrorCode
from billhive.billbee.operations import get_operation
from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers.calls import call_buckets
from billhive.workers.jobs import hold_tenant, scoped_client, send
from billhive.workers.outcomes import Decision, Verdict
from billhive.workers.queues import enqueue_for_tenant
from billhive.workers.recording import count_usage
from billhive.workers.runtime import Runtime, get_runtime
from billhive.workers.scheduling.dispatcher import BACKGROUND, READ

VERIFY_OPERATION = "orders.list"
VERIFY_PARAMS = {"page": 1, "pageSize": 1}
CRON_INTERVAL_SECONDS = 60
_WAITING = {JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED}


def reverify_job_id(tenant_id: int) -> str:
    """One re-verification per tenant at a time."""
    return f"reverify-{tenant_id}"


def batch_size(active: int, period_seconds: float) -> int:
    """Tenants to queue per cron run so that all ``active`` come round once per period."""
    runs = max(1.0, period_seconds / CRON_INTERVAL_SECONDS)
    return math.ceil(active / runs) if active else 0


def queue_due_reverifications() -> int:
    """Cron job: queue the re-verification of the tenants that are most overdue."""
    return queue_due(get_runtime())


def queue_due(rt: Runtime) -> int:
    """The body of :func:`queue_due_reverifications`; returns how many were queued."""
    period = rt.settings.reverify_interval_hours * 3600
    cutoff = utcnow() - timedelta(seconds=period)
    with rt.database.session() as session:
        active = session.scalar(
            select(func.count()).select_from(Tenant).where(Tenant.status == TenantStatus.ACTIVE)
        )
        due = session.scalars(
            select(Tenant.id)
            .where(
                Tenant.status == TenantStatus.ACTIVE,
                or_(Tenant.verified_at.is_(None), Tenant.verified_at < cutoff),
            )
            .order_by(Tenant.verified_at.asc().nulls_first())
            .limit(batch_size(active or 0, period))
        ).all()
    queued = 0
    buckets_op = get_operation(VERIFY_OPERATION)
    for tenant_id in due:
        if _already_waiting(rt, tenant_id):
            continue
        enqueue_for_tenant(
            rt.redis,
            str(tenant_id),
            "billhive.workers.reverify.reverify_tenant",
            args=(tenant_id,),
            buckets=call_buckets(buckets_op, VERIFY_PARAMS, tenant_id),
            job_id=reverify_job_id(tenant_id),
            lane=BACKGROUND,
            order=READ,
            result_ttl=3600,
            description=f"re-verify tenant {tenant_id}",
        )
        queued += 1
    return queued


def _already_waiting(rt: Runtime, tenant_id: int) -> bool:
    try:
        job = Job.fetch(reverify_job_id(tenant_id), connection=rt.redis)
    except NoSuchJobError:
        return False
    return job.get_status(refresh=False) in _WAITING


def reverify_tenant(tenant_id: int) -> dict[str, Any]:
    """RQ job on the tenant's queue: prove the stored credentials still work."""
    rt = get_runtime()
    with rt.database.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None or tenant.status is not TenantStatus.ACTIVE:
            return {"tenant_id": tenant_id, "status": "skipped"}
        with scoped_client(rt, session, tenant_id) as client:
            session.commit()
            attempt = send(client, get_operation(VERIFY_OPERATION), VERIFY_PARAMS, None)
        count_usage(
            session, rt.redis, tenant_id, reached=attempt.reached_billbee, error=attempt.error
        )
        error = attempt.error
        if error is None:
            tenant.verified_at = utcnow()
            tenant.last_error = None
            return {"tenant_id": tenant_id, "status": "verified"}
        rejected = isinstance(error, CredentialsRejected) or (
            isinstance(error, ApiError) and error.error_code == ErrorCode.ApiNotActivated
        )
        if rejected:
            reason = (
                "API access is switched off in Billbee"
                if isinstance(error, ApiError)
                else "Billbee refused the credentials"
            )
            hold_tenant(rt, session, tenant, Decision(Verdict.CREDENTIALS_INVALID, reason=reason))
            return {"tenant_id": tenant_id, "status": "credentials_invalid"}
        # Billbee unreachable or busy: the next cron run picks the tenant up again.
        tenant.last_error = f"re-verification postponed: {type(error).__name__}"
        return {"tenant_id": tenant_id, "status": "postponed"}
