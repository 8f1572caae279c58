"""The verification job: ask Billbee whether a pending tenant's credentials work.

Signup and reconnect store a tenant as ``pending_verification`` when Billbee cannot be
asked; this job asks again later. It takes only the tenant id, loads settings, database
and the sealed credentials itself, and opens the credentials inside the job.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from billhive.config import Settings, load_settings
from billhive.db import Database, utcnow
from billhive.logs import get_logger
from billhive.redisconn import redis_from_settings
from billhive.tenants.audit import ACTOR_SYSTEM, set_status
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import get_tenant, open_credentials
from billhive.tenants.vault import Credentials, Vault
from billhive.tenants.verify import Outcome, Verdict, Verifier, check, make_verifier
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.scheduling.dispatcher import Dispatcher

#: Retries while Billbee is unreachable: after 1 min, 5 min, 15 min, 1 h, 3 h, then 6 h.
RETRY_INTERVALS = [60, 300, 900, 3600, 10800, 21600]
JOB_TIMEOUT_SECONDS = 120
#: What the job returns when the tenant row does not exist.
NOT_FOUND = "not_found"
#: Job states in which a verification will still run: no second one is enqueued then.
_WAITING = frozenset({JobStatus.QUEUED, JobStatus.SCHEDULED, JobStatus.STARTED, JobStatus.DEFERRED})

log = get_logger(__name__)


class BillbeeUnreachable(RuntimeError):
    """Billbee could not be asked; raised so RQ retries the job later."""


def verification_job_id(tenant_id: int) -> str:
    """The RQ job id of a tenant's verification: one per tenant at a time."""
    return f"verify-tenant-{tenant_id}"


def enqueue_verification(redis: Redis, tenant_id: int) -> Job:
    """Put the verification of ``tenant_id`` on the system queue, retried with backoff.

    The job carries the tenant id only; never a credential. A verification of the same
    tenant that is still queued, scheduled for a retry or running is returned instead of
    adding a second one.
    """
    job_id = verification_job_id(tenant_id)
    try:
        existing = Job.fetch(job_id, connection=redis)
    except NoSuchJobError:
        existing = None
    if existing is not None and existing.get_status(refresh=False) in _WAITING:
        return existing
    queue = Queue(SYSTEM_QUEUE, connection=redis)
    return queue.enqueue(
        verify_tenant,
        tenant_id,
        job_id=job_id,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        job_timeout=JOB_TIMEOUT_SECONDS,
        description=f"verify tenant {tenant_id}",
    )


def sweep_pending_verifications() -> int:
    """RQ job for the scheduler: enqueue a verification for every pending tenant.

    Catches tenants whose job was never enqueued (Redis was down during signup) or whose
    retries ran out while Billbee stayed unreachable. Returns how many it looked at.
    """
    settings = load_settings()
    database = Database(settings.effective_database_url, pool=False)
    try:
        with database.session() as session:
            pending = session.scalars(
                select(Tenant.id).where(Tenant.status == TenantStatus.PENDING_VERIFICATION)
            ).all()
    finally:
        database.dispose()
    redis = redis_from_settings(settings)
    for tenant_id in pending:
        enqueue_verification(redis, tenant_id)
    return len(pending)


def verify_tenant(tenant_id: int) -> str:
    """RQ job: verify a pending tenant and record the result; returns the new status."""
    settings = load_settings()
    return run_verification(settings, tenant_id, verify=make_verifier(settings))


def run_verification(settings: Settings, tenant_id: int, *, verify: Verifier) -> str:
    """The body of :func:`verify_tenant` with its collaborators passed in."""
    database = Database(settings.effective_database_url, pool=False)
    try:
        redis = redis_from_settings(settings) if settings.redis_url else None
        return _verify(database, Vault.from_settings(settings), tenant_id, verify, redis)
    finally:
        database.dispose()


def _verify(
    database: Database, vault: Vault, tenant_id: int, verify: Verifier, redis: Redis | None
) -> str:
    opened = _open_if_pending(database, vault, tenant_id)
    if isinstance(opened, str):
        return opened
    # The Billbee call happens with no database transaction open.
    verdict = check(verify, opened.username, opened.password)
    del opened
    if verdict.outcome is Outcome.UNREACHABLE:
        with database.session() as session:
            get_tenant(session, tenant_id).last_error = verdict.note
        log.info("verification_postponed", tenant_id=tenant_id, note=verdict.note)
        raise BillbeeUnreachable(verdict.note)
    status = _record(database, tenant_id, verdict)
    if status == TenantStatus.ACTIVE.value and redis is not None:
        # Calls queued while the tenant was pending wait in a paused queue.
        Dispatcher(redis).resume(str(tenant_id))
    log.info("verification_done", tenant_id=tenant_id, status=status)
    return status


def _open_if_pending(database: Database, vault: Vault, tenant_id: int) -> Credentials | str:
    """The tenant's credentials, or the status to return when there is nothing to verify."""
    with database.session() as session:
        tenant = session.get(Tenant, tenant_id)
        if tenant is None:
            # Gone (never committed, or removed by hand): retrying would not help.
            log.warning("verification_tenant_missing", tenant_id=tenant_id)
            return NOT_FOUND
        if tenant.status != TenantStatus.PENDING_VERIFICATION:
            # Reconnected, deleted or paused meanwhile: nothing left to verify.
            return tenant.status.value
        return open_credentials(session, vault, tenant_id)


def _record(database: Database, tenant_id: int, verdict: Verdict) -> str:
    """Move a still-pending tenant to active or credentials_invalid; return its status."""
    with database.session() as session:
        tenant = get_tenant(session, tenant_id)
        if tenant.status != TenantStatus.PENDING_VERIFICATION:
            return tenant.status.value
        accepted = verdict.outcome is Outcome.ACCEPTED
        tenant.last_error = None if accepted else verdict.note
        if accepted:
            tenant.verified_at = utcnow()
        set_status(
            session,
            tenant,
            TenantStatus.ACTIVE if accepted else TenantStatus.CREDENTIALS_INVALID,
            actor=ACTOR_SYSTEM,
            action="verified" if accepted else "verification_failed",
            reason="credentials verified" if accepted else verdict.note,
        )
        return tenant.status.value
