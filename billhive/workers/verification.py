"""The verification job: ask Billbee whether a pending tenant's credentials work.

Signup and reconnect store a tenant as ``pending_verification`` when Billbee cannot be
asked; this job asks again later. It takes only the tenant id, loads settings, database
and the sealed credentials itself, and opens the credentials inside the job.
"""

from __future__ import annotations

from redis import Redis
from rq import Queue, Retry
from rq.job import Job

from billhive.config import Settings, load_settings
from billhive.db import Database, utcnow
from billhive.tenants.audit import ACTOR_SYSTEM, set_status
from billhive.tenants.models import TenantStatus
from billhive.tenants.service import get_tenant, open_credentials
from billhive.tenants.vault import Vault
from billhive.tenants.verify import Outcome, Verifier, check, make_verifier
from billhive.workers.process import SYSTEM_QUEUE

#: Retries while Billbee is unreachable: after 1 min, 5 min, 15 min, 1 h, 3 h, then 6 h.
RETRY_INTERVALS = [60, 300, 900, 3600, 10800, 21600]
JOB_TIMEOUT_SECONDS = 120


class BillbeeUnreachable(RuntimeError):
    """Billbee could not be asked; raised so RQ retries the job later."""


def enqueue_verification(redis: Redis, tenant_id: int) -> Job:
    """Put the verification of ``tenant_id`` on the system queue, retried with backoff.

    The job carries the tenant id only; never a credential.
    """
    queue = Queue(SYSTEM_QUEUE, connection=redis)
    return queue.enqueue(
        verify_tenant,
        tenant_id,
        retry=Retry(max=len(RETRY_INTERVALS), interval=RETRY_INTERVALS),
        job_timeout=JOB_TIMEOUT_SECONDS,
        description=f"verify tenant {tenant_id}",
    )


def verify_tenant(tenant_id: int) -> str:
    """RQ job: verify a pending tenant and record the result; returns the new status."""
    settings = load_settings()
    return run_verification(settings, tenant_id, verify=make_verifier(settings))


def run_verification(settings: Settings, tenant_id: int, *, verify: Verifier) -> str:
    """The body of :func:`verify_tenant` with its collaborators passed in."""
    database = Database(settings.effective_database_url, pool=False)
    try:
        return _verify(database, Vault.from_settings(settings), tenant_id, verify)
    finally:
        database.dispose()


def _verify(database: Database, vault: Vault, tenant_id: int, verify: Verifier) -> str:
    with database.session() as session:
        tenant = get_tenant(session, tenant_id)
        if tenant.status != TenantStatus.PENDING_VERIFICATION:
            # Reconnected, deleted or paused meanwhile: nothing left to verify.
            return tenant.status.value
        credentials = open_credentials(session, vault, tenant_id)
    # The Billbee call happens with no database transaction open.
    verdict = check(verify, credentials.username, credentials.password)
    del credentials
    if verdict.outcome is Outcome.UNREACHABLE:
        with database.session() as session:
            get_tenant(session, tenant_id).last_error = verdict.note
        raise BillbeeUnreachable(verdict.note)
    with database.session() as session:
        tenant = get_tenant(session, tenant_id)
        if tenant.status != TenantStatus.PENDING_VERIFICATION:
            return tenant.status.value
        if verdict.outcome is Outcome.ACCEPTED:
            tenant.verified_at = utcnow()
            tenant.last_error = None
            set_status(
                session,
                tenant,
                TenantStatus.ACTIVE,
                actor=ACTOR_SYSTEM,
                action="verified",
                reason="credentials verified",
            )
        else:
            tenant.last_error = verdict.note
            set_status(
                session,
                tenant,
                TenantStatus.CREDENTIALS_INVALID,
                actor=ACTOR_SYSTEM,
                action="verification_failed",
                reason=verdict.note,
            )
        return tenant.status.value
