"""The job functions workers run: one Billbee call per job, scoped to one tenant.

A job takes a call id, loads the call and its tenant, claims the call (``running``, a new
attempt), opens the tenant's credentials from the vault inside the job, makes the call
with a client scoped to that tenant (no database transaction open meanwhile), and records
the outcome. A call that must wait (429, backoff, rejected credentials, the database
unreachable) raises :class:`CallDeferred`: RQ re-queues the job and the dispatcher puts it
back at the head of the tenant's queue, so later calls never overtake it.

A call found ``running`` when its job starts is one whose earlier attempt never recorded
how it ended (its worker was killed, Redis or the database went away). While that
attempt's lease runs it may still be alive, so the job waits; after it, an idempotent call
is tried again and a non-idempotent one becomes ``unknown_outcome``: it may have reached
Billbee, and sending it again could, say, create a second invoice.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import get_current_job
from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager
from sqlalchemy.orm.exc import StaleDataError

from billhive.billbee.client import BillbeeClient
from billhive.billbee.envelope import BillbeeResponse
from billhive.billbee.errors import BillbeeError, InvalidCall, TransportError
from billhive.billbee.limits import BULK_FORMS
from billhive.billbee.operations import Operation, get_operation
from billhive.db import is_unavailable, utcnow
from billhive.logs import get_logger
from billhive.tenants.audit import ACTOR_SYSTEM, set_status
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import open_credentials
from billhive.tenants.vault import TenantKey
from billhive.workers import gates, payloads
from billhive.workers.calls import KEY_ID
from billhive.workers.consumers import consume
from billhive.workers.models import (
    FINAL_STATUSES,
    Call,
    CallStatus,
    job_id_for,
)
from billhive.workers.outcomes import Decision, Verdict, decide
from billhive.workers.recording import cap_result, count_usage, finish_call, job_events
from billhive.workers.runtime import Runtime, get_runtime
from billhive.workers.stats import record_outcome

log = get_logger(__name__)

#: Longest single wait for an earlier attempt's lease: its worker may record the outcome
#: any moment, and the tenant's later calls wait behind this one meanwhile.
LEASE_RECHECK_SECONDS = 5.0
#: How long a job keeps trying to record an outcome it already has while the database is
#: unreachable (a restart takes seconds), before leaving the call to the lease.
RECORD_PATIENCE_SECONDS = 30.0
#: Wait before a job whose call could not be loaded (database unreachable) is tried again.
OUTAGE_DEFER_SECONDS = 2.0


#: The error of a call whose payload could not be opened (it names no data).
UNOPENED_PAYLOAD = "its payload could not be opened with the tenant's data key (not sent)"


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
    """Make the call; never raises for a Billbee failure (it is part of the attempt).

    A restamp that cannot reach Redis stops the request before it leaves (the call has
    no slot in the limit buckets): that attempt certainly did not reach Billbee.
    """
    try:
        return Attempt(client.call(operation, params, body), None, True)
    except InvalidCall as exc:
        return Attempt(None, exc, False)
    except TransportError as exc:
        return Attempt(None, exc, exc.may_have_reached_server)
    except BillbeeError as exc:
        return Attempt(None, exc, True)
    except RedisError as exc:
        unsent = TransportError(
            f"not sent: no limit slot, Redis unavailable ({type(exc).__name__})",
            may_have_reached_server=False,
            operation=operation.name,
        )
        return Attempt(None, unsent, False)


def mark_credentials_invalid(session: Session, tenant: Tenant, decision: Decision) -> None:
    """Rejected credentials: the tenant's new status and the audit row (not committed)."""
    set_status(
        session,
        tenant,
        TenantStatus.CREDENTIALS_INVALID,
        actor=ACTOR_SYSTEM,
        reason=decision.reason,
        action="credentials_rejected",
    )
    tenant.last_error = decision.reason


def hold_tenant(rt: Runtime, session: Session, tenant: Tenant, decision: Decision) -> None:
    """Rejected credentials: mark the tenant, pause its queue; its calls wait for reconnect."""
    mark_credentials_invalid(session, tenant, decision)
    rt.dispatcher.pause(str(tenant.id))


def start_call(rt: Runtime, session: Session, call_id: int) -> tuple[Call, Tenant] | None:
    """Load the call and mark it running (not committed); None when there is nothing to do.

    Raises CallDeferred when the tenant may not call Billbee now (paused, pending or
    rejected credentials): the job goes back to the head of the paused queue; and while an
    earlier attempt of the call may still be alive (see the module docstring).
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
        finish_call(session, call, CallStatus.CANCELLED, error="tenant deleted")
        return None
    if tenant.status is not TenantStatus.ACTIVE:
        rt.dispatcher.pause(str(tenant.id))
        raise CallDeferred(f"tenant {tenant.id} is {tenant.status.value}")
    if call.status is CallStatus.RUNNING and not _may_try_again(rt, session, call):
        return None
    now = utcnow()
    call.status = CallStatus.RUNNING
    call.attempts += 1
    call.attempt_started_at = now
    call.started_at = call.started_at or now
    return call, tenant


def _may_try_again(rt: Runtime, session: Session, call: Call) -> bool:
    """For a call whose earlier attempt never recorded its end: wait while that attempt
    may be alive (raises CallDeferred), then True for an idempotent call (try again);
    a non-idempotent one is recorded ``unknown_outcome`` (False)."""
    started = call.attempt_started_at
    if started is not None:
        lease = timedelta(seconds=rt.settings.call_lease_seconds)
        remaining = (started + lease - utcnow()).total_seconds()
        if remaining > 0:
            rt.dispatcher.defer(call.job_id, min(remaining, LEASE_RECHECK_SECONDS))
            raise CallDeferred(f"call {call.id}: an earlier attempt may still be running")
    if _operation_of(call).idempotent:
        log.warning("call_attempt_abandoned", call_id=call.id, attempts=call.attempts)
        return True
    finish_call(
        session,
        call,
        CallStatus.UNKNOWN_OUTCOME,
        error="its attempt was interrupted (worker, Redis or database lost) "
        "and may have reached Billbee",
    )
    log.warning("call_interrupted_unknown_outcome", call_id=call.id)
    return False


def _operation_of(call: Call) -> Operation:
    """The operation a call's job may have sent: its bulk form, for a coalescable call
    (each bulk form is exactly as idempotent as the operation it carries)."""
    return get_operation(BULK_FORMS.get(call.operation, call.operation))


def claim(session: Session) -> bool:
    """Commit the running mark made by :func:`start_call`; False if another worker or an
    operator changed the call since it was loaded (its version moved on)."""
    try:
        session.commit()
    except StaleDataError:
        session.rollback()
        return False
    return True


@contextmanager
def database_outage(rt: Runtime, job_id: str) -> Iterator[None]:
    """Turn an unreachable database while a job starts into a deferral: nothing was sent,
    so the job goes back to the head of its tenant's queue and comes again shortly, and
    this worker slows down (see Runtime.note_database_outage)."""
    try:
        yield
    except CallDeferred:
        raise
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        delay = rt.note_database_outage()
        log.warning("call_start_database_unavailable", job_id=job_id, error=type(exc).__name__)
        rt.dispatcher.defer(job_id, OUTAGE_DEFER_SECONDS * random.uniform(1, 2) + delay)  # noqa: S311
        raise CallDeferred(f"database unavailable: {type(exc).__name__}") from None


def record_durably(rt: Runtime, call_id: int, record: Callable[[Session, Call], Any]) -> Any:
    """Run ``record(session, call)`` (it commits) in a fresh session, again and again while
    the database is unreachable, for up to RECORD_PATIENCE_SECONDS: the attempt's outcome
    exists only in this job until it is committed.

    After that the error propagates and the call stays ``running`` until its lease ends.
    """
    deadline = time.monotonic() + RECORD_PATIENCE_SECONDS
    pause = 0.2
    while True:
        try:
            with rt.database.session() as session:
                call = session.get(Call, call_id)
                if call is None:
                    return None
                return record(session, call)
        except CallDeferred:
            raise
        except Exception as exc:
            if not is_unavailable(exc) or time.monotonic() + pause > deadline:
                raise
            log.warning("call_record_retry", call_id=call_id, error=type(exc).__name__)
            rt.note_database_outage()
            time.sleep(pause)
            pause = min(pause * 2, 5.0)


def apply_decision(
    rt: Runtime,
    session: Session,
    call: Call,
    *,
    attempt: Attempt,
    decision: Decision,
    events: Redis | Pipeline,
    key: TenantKey | None,
) -> dict[str, Any]:
    """Record one attempt's decision on the call; raises CallDeferred when it must wait.

    ``key`` is the tenant's data key the result is sealed with (None: the tenant's key
    is gone, so the result is not kept).

    Counters go to ``events`` (see recording.job_events). The database is written first:
    a deferral's Redis side (backoff, penalty, pause) failing afterwards leaves a call
    that is correctly ``queued``, whose job the reconciler or recovery brings back.
    """
    error = attempt.error
    status_code = attempt.response.status_code if attempt.response else None
    if error is not None:
        status_code = getattr(error, "status_code", None)
    call.http_status = status_code
    record_outcome(events, decision.verdict.value)
    if decision.verdict is Verdict.SUCCEEDED:
        assert attempt.response is not None
        answer = attempt.response.data
        if call.consumer is not None:
            try:
                params = payloads.open_params(key, call)
                # A savepoint: a consumer that fails undoes its own rows only, not the
                # usage count and outcome already written for a call that reached Billbee.
                with session.begin_nested():
                    answer = consume(session, call, params, attempt.response)
            except Exception as exc:
                if is_unavailable(exc):
                    raise  # record_durably tries again with the database back
                return _consumer_failed(session, call, exc)
        text, truncated = cap_result(answer)
        if key is not None:
            payloads.seal_result_text(key, call, text)
        call.result_truncated = truncated
        call.error = call.error_name = None
        call.error_code = None
        finish_call(session, call, CallStatus.SUCCEEDED)
        return {"call_id": call.id, "status": "succeeded"}
    call.error = str(error) if error is not None else decision.reason
    call.error_code = getattr(error, "error_code", None)
    call.error_name = getattr(error, "error_name", None)
    if decision.verdict in (Verdict.FAILED, Verdict.UNKNOWN_OUTCOME):
        final = CallStatus(decision.verdict.value)
        finish_call(session, call, final, error=call.error)
        return {"call_id": call.id, "status": final.value, "reason": decision.reason}
    call.status = CallStatus.QUEUED
    if decision.verdict is Verdict.THROTTLED:
        call.attempts -= 1  # a 429 is Billbee's pacing, not a failed attempt
    tenant = session.get(Tenant, call.tenant_id) if call.tenant_id else None
    if decision.verdict is Verdict.CREDENTIALS_INVALID and tenant is not None:
        mark_credentials_invalid(session, tenant, decision)
    session.commit()
    try:
        if decision.verdict is Verdict.CREDENTIALS_INVALID:
            rt.dispatcher.pause(str(call.tenant_id))
        elif decision.verdict is Verdict.THROTTLED and decision.delay > 0:
            # Billbee does not say which limit it applied: close this merchant's budget only.
            rt.dispatcher.penalize(tenant_bucket(call.tenant_id), decision.delay)
        elif decision.delay > 0:
            rt.dispatcher.defer(call.job_id, decision.delay)
    except RedisError as exc:
        log.warning("call_deferral_not_stored", call_id=call.id, error=type(exc).__name__)
    raise CallDeferred(f"{decision.verdict.value}: {decision.reason}; waits {decision.delay:.1f}s")


def _consumer_failed(session: Session, call: Call, exc: Exception) -> dict[str, Any]:
    """The consumer could not take the answer: nothing it wrote stays (its savepoint was
    rolled back), and the call fails (its owner, e.g. the feed poller, decides when to ask
    again); the call still counts as made."""
    log.error("call_consumer_failed", call_id=call.id, error=type(exc).__name__)
    error = f"the answer could not be processed ({type(exc).__name__})"
    finish_call(session, call, CallStatus.FAILED, error=error)
    return {"call_id": call.id, "status": CallStatus.FAILED.value, "reason": error}


def run_call(call_id: int) -> dict[str, Any]:
    """RQ job: make the Billbee call recorded as ``call_id`` and record what happened."""
    rt = get_runtime()
    with rt.database.session() as session, ExitStack() as stack:
        with database_outage(rt, job_id_for(call_id)):
            started = start_call(rt, session, call_id)
            if started is None:
                return {"call_id": call_id, "status": "skipped"}
            call, tenant = started
            operation = get_operation(call.operation)
            key = payloads.key_of(rt.vault, tenant.credentials)
            payload = payloads.open_call(key, call)
            if payload.purged or payload.unreadable:
                finish_call(session, call, CallStatus.FAILED, error=UNOPENED_PAYLOAD)
                return {"call_id": call_id, "status": "failed"}
            client = stack.enter_context(scoped_client(rt, session, tenant.id))
            # Marks it running; no transaction stays open during the call.
            if not claim(session):
                return {"call_id": call_id, "status": "skipped"}
        rt.note_database_available()
        sent = time.perf_counter()
        attempt = send(client, operation, payload.params, payload.body)
        del payload
        if attempt.reached_billbee:
            rt.note_call_latency(time.perf_counter() - sent)
    decision = decide(attempt.error, operation, call.attempts, rt.policy)

    def record(session: Session, current: Call) -> dict[str, Any]:
        with job_events(rt.redis) as events:
            count_usage(
                session,
                events,
                current.tenant_id,
                reached=attempt.reached_billbee,
                error=attempt.error,
            )
            refused_for = session.get(Tenant, current.tenant_id)
            if refused_for is not None:
                gates.note_billbee_refusal(session, refused_for, operation.name, attempt.error)
            return apply_decision(
                rt, session, current, attempt=attempt, decision=decision, events=events, key=key
            )

    result: dict[str, Any] = record_durably(rt, call_id, record)
    return result


def run_batch(call_id: int) -> dict[str, Any]:
    """RQ job: send this coalescable call with the tenant's calls of its kind queued right
    behind it, as one bulk call (see workers/batches.py)."""
    from billhive.workers.batches import run_batch as run

    return run(get_runtime(), call_id)


#: The batch job of stock updates (their name from before other calls coalesced).
run_stock_update = run_batch
