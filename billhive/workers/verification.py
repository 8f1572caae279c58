"""The verification job: ask Billbee about credentials that could not be checked at once.

A signup while Billbee was unreachable is a tenant ``pending_verification`` that claims
no username; a reconnect while Billbee was unreachable is a new password waiting next to
the stored one. This job asks Billbee later and lets the tenant service settle the
answer (see ``tenants.service.record_verdict``). It takes only the tenant id, loads
settings, database and the sealed credentials itself, and opens the credentials inside
the job.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job, JobStatus
from sqlalchemy import select

from billhive.config import Settings, load_settings
from billhive.db import Database
from billhive.logs import get_logger
from billhive.redisconn import redis_from_settings
from billhive.tenants.lifecycle import RECONNECTABLE
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.service import (
    PendingCheck,
    get_tenant,
    pending_check,
    record_verdict,
)
from billhive.tenants.vault import Vault
from billhive.tenants.verify import Outcome, Verifier, check, make_verifier
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
    """RQ job for the scheduler: enqueue a verification for every tenant pending
    verification or holding a reconnect password that waits for Billbee.

    Catches tenants whose job was never enqueued (Redis was down during signup) or whose
    retries ran out while Billbee stayed unreachable. Returns how many it looked at.
    """
    settings = load_settings()
    database = Database(settings.effective_database_url, pool=False)
    try:
        with database.session() as session:
            waiting_password = select(TenantCredentials.tenant_id).where(
                TenantCredentials.pending_password_sealed.is_not(None)
            )
            pending = session.scalars(
                select(Tenant.id)
                .where(
                    (Tenant.status == TenantStatus.PENDING_VERIFICATION)
                    | (Tenant.id.in_(waiting_password) & Tenant.status.in_(RECONNECTABLE))
                )
                .order_by(Tenant.id)
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
    # At most two questions: a waiting reconnect password, then (if the tenant is still
    # pending verification) its stored credentials.
    status = NOT_FOUND
    for _ in range(2):
        asked = _what_to_ask(database, vault, tenant_id)
        if isinstance(asked, str):
            return asked
        # The Billbee call happens with no database transaction open.
        verdict = check(verify, asked.credentials.username, asked.credentials.password)
        if verdict.outcome is Outcome.UNREACHABLE:
            with database.session() as session:
                get_tenant(session, tenant_id).last_error = verdict.note
            log.info("verification_postponed", tenant_id=tenant_id, note=verdict.note)
            raise BillbeeUnreachable(verdict.note)
        with database.session() as session:
            status = record_verdict(session, vault, tenant_id, asked, verdict)
        del asked
        if status == TenantStatus.ACTIVE.value and redis is not None:
            # Calls queued while the tenant was pending wait in a paused queue.
            Dispatcher(redis).resume(str(tenant_id))
        log.info("verification_done", tenant_id=tenant_id, status=status)
        if status != TenantStatus.PENDING_VERIFICATION.value:
            return status
    return status


def _what_to_ask(database: Database, vault: Vault, tenant_id: int) -> PendingCheck | str:
    """The credentials to verify, or the status to return when there is nothing to verify."""
    with database.session() as session:
        asked = pending_check(session, vault, tenant_id)
    if asked is None:
        # Gone (never committed, or removed by hand): retrying would not help.
        log.warning("verification_tenant_missing", tenant_id=tenant_id)
        return NOT_FOUND
    return asked
