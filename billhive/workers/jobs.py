"""The job functions workers run: one Billbee call per job, scoped to one tenant.

A job takes a call id, loads the call and its tenant, opens the tenant's credentials from
the vault inside the job, makes the call with a client scoped to that tenant (no database
transaction open meanwhile), and records the outcome. A call that must wait (429, backoff,
rejected credentials) raises :class:`CallDeferred`: RQ re-queues the job and the dispatcher
puts it back at the head of the tenant's queue, so later calls never overtake it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from redis import Redis
from redis.client import Pipeline
from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager

from billhive.billbee.client import BillbeeClient
from billhive.billbee.envelope import BillbeeResponse
from billhive.billbee.errors import BillbeeError, InvalidCall, TransportError
from billhive.billbee.operations import Operation, get_operation
from billhive.db import utcnow
from billhive.logs import get_logger
from billhive.tenants.audit import ACTOR_SYSTEM, set_status
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import open_credentials
from billhive.workers import gates
from billhive.workers.calls import KEY_ID
from billhive.workers.models import FINAL_STATUSES, Call, CallStatus
from billhive.workers.outcomes import Decision, Verdict, decide
from billhive.workers.recording import cap_result, count_usage, finish_call, job_events
from billhive.workers.runtime import Runtime, get_runtime
from billhive.workers.stats import record_outcome

log = get_logger(__name__)


class CallDeferred(Exception):
    """The call waits at the head of its tenant's queue (RQ re-queues the job)."""


@dataclass
class Attempt:
    """What one attempt produced."""

    response: BillbeeResponse | None
    error: BaseException | None
    reached_billbee: bool


def tenant_bucket(tenant_id: int) -> str:
    """The key + user bucket of a tenant: closing it holds back that tenant only."""
    return f"user:{KEY_ID}:{tenant_id}"


def _restamper(rt: Runtime) -> Callable[[], None] | None:
    """What to run right before the current job's request goes out: its entries in its
    limit buckets move to the send time, so the variable start-up of the job cannot make
    calls arrive closer together at Billbee than the buckets allowed; a job dispatched
    ahead of its slot waits for it there. None outside a job."""
    job = get_current_job()
    if job is None:
        return None
    job_id = job.id

    def restamp() -> None:
        rt.dispatcher.restamp_when_due(job_id, sleep=time.sleep)

    return restamp


@contextmanager
def scoped_client(rt: Runtime, session: Session, tenant_id: int) -> Any:
    """A client with the tenant's credentials, opened from the vault for this job only."""
    credentials = open_credentials(session, rt.vault, tenant_id)
    client = BillbeeClient(
        rt.settings.require("billbee_api_key"),
        credentials.username,
        credentials.password,
        base_url=rt.settings.billbee_base_url,
        timeout=rt.settings.billbee_timeout,
        transport=rt.transport,
        before_send=_restamper(rt),
        max_items=rt.settings.bulk_caps,
    )
    del credentials
    try:
        yield client
    finally:
        client.close()


def send(client: BillbeeClient, operation: Operation, params: Any, body: Any) -> Attempt:
    """Make the call; never raises for a Billbee failure (it is part of the attempt)."""
    try:
        return Attempt(client.call(operation, params, body), None, True)
    except InvalidCall as exc:
        return Attempt(None, exc, False)
    except TransportError as exc:
        return Attempt(None, exc, exc.may_have_reached_server)
    except BillbeeError as exc:
        return Attempt(None, exc, True)


def hold_tenant(rt: Runtime, session: Session, tenant: Tenant, decision: Decision) -> None:
    """Rejected credentials: mark the tenant, pause its queue; its calls wait for reconnect."""
    set_status(
        session,
        tenant,
        TenantStatus.CREDENTIALS_INVALID,
        actor=ACTOR_SYSTEM,
        reason=decision.reason,
        action="credentials_rejected",
    )
    tenant.last_error = decision.reason
    rt.dispatcher.pause(str(tenant.id))


def start_call(rt: Runtime, session: Session, call_id: int) -> tuple[Call, Tenant] | None:
    """Load the call and mark it running; None when there is nothing to do.

    Raises CallDeferred when the tenant may not call Billbee now (paused, pending or
    rejected credentials): the job goes back to the head of the paused queue.
    """
    # One query for the call, its tenant and the tenant's sealed credentials (loaded onto
    # the tenant, where scoped_client finds them without a query): every round trip
    # between a job's start and its send stretches the slot cycle of the key's 50 calls/s.
    row = session.execute(
        select(Call, Tenant)
        .outerjoin(Tenant, Tenant.id == Call.tenant_id)
        .outerjoin(Tenant.credentials)
        .options(contains_eager(Tenant.credentials))
        .where(Call.id == call_id)
    ).one_or_none()
    if row is None or row[0].status in FINAL_STATUSES:
        return None
    call, tenant = row
    if tenant is None or tenant.status is TenantStatus.DELETED:
        finish_call(session, rt.redis, call, CallStatus.CANCELLED, error="tenant deleted")
        return None
    if tenant.status is not TenantStatus.ACTIVE:
        rt.dispatcher.pause(str(tenant.id))
        raise CallDeferred(f"tenant {tenant.id} is {tenant.status.value}")
    call.status = CallStatus.RUNNING
    call.attempts += 1
    call.started_at = call.started_at or utcnow()
    return call, tenant


def apply_decision(
    rt: Runtime,
    session: Session,
    call: Call,
    tenant: Tenant,
    *,
    attempt: Attempt,
    decision: Decision,
    events: Redis | Pipeline,
) -> dict[str, Any]:
    """Record one attempt's decision on the call; raises CallDeferred when it must wait.

    Counters and the call's announcement go to ``events`` (see recording.job_events).
    """
    error = attempt.error
    status_code = attempt.response.status_code if attempt.response else None
    if error is not None:
        status_code = getattr(error, "status_code", None)
    call.http_status = status_code
    record_outcome(events, decision.verdict.value)
    if decision.verdict is Verdict.SUCCEEDED:
        assert attempt.response is not None
        data, truncated = cap_result(attempt.response.data)
        call.result, call.result_truncated = data, truncated
        call.error = call.error_name = None
        call.error_code = None
        finish_call(session, events, call, CallStatus.SUCCEEDED)
        return {"call_id": call.id, "status": "succeeded"}
    call.error = str(error) if error is not None else decision.reason
    call.error_code = getattr(error, "error_code", None)
    call.error_name = getattr(error, "error_name", None)
    if decision.verdict in (Verdict.FAILED, Verdict.UNKNOWN_OUTCOME):
        final = CallStatus(decision.verdict.value)
        finish_call(session, events, call, final, error=call.error)
        return {"call_id": call.id, "status": final.value, "reason": decision.reason}
    call.status = CallStatus.QUEUED
    if decision.verdict is Verdict.THROTTLED:
        call.attempts -= 1  # a 429 is Billbee's pacing, not a failed attempt
    if decision.verdict is Verdict.CREDENTIALS_INVALID:
        hold_tenant(rt, session, tenant, decision)
    elif decision.verdict is Verdict.THROTTLED and decision.delay > 0:
        # Billbee does not say which limit it applied: close this merchant's budget only.
        rt.dispatcher.penalize(tenant_bucket(tenant.id), decision.delay)
    elif decision.delay > 0:
        rt.dispatcher.defer(call.job_id, decision.delay)
    session.commit()
    raise CallDeferred(f"{decision.verdict.value}: {decision.reason}; waits {decision.delay:.1f}s")


def run_call(call_id: int) -> dict[str, Any]:
    """RQ job: make the Billbee call recorded as ``call_id`` and record what happened."""
    rt = get_runtime()
    with rt.database.session() as session:
        started = start_call(rt, session, call_id)
        if started is None:
            return {"call_id": call_id, "status": "skipped"}
        call, tenant = started
        operation = get_operation(call.operation)
        with scoped_client(rt, session, tenant.id) as client:
            session.commit()  # marks it running; no transaction stays open during the call
            attempt = send(client, operation, call.params, call.body)
        with job_events(rt.redis) as events:
            count_usage(
                session, events, tenant.id, reached=attempt.reached_billbee, error=attempt.error
            )
            decision = decide(attempt.error, operation, call.attempts, rt.policy)
            gates.note_billbee_refusal(session, tenant, operation.name, attempt.error)
            return apply_decision(
                rt, session, call, tenant, attempt=attempt, decision=decision, events=events
            )


def run_stock_update(call_id: int) -> dict[str, Any]:
    """RQ job: send this stock update merged with the tenant's next queued ones."""
    from billhive.workers.stock import run_stock_batch

    return run_stock_batch(get_runtime(), call_id)
