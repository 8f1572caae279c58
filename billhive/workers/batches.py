"""The coalescing runner: a call and the calls queued right behind it, sent as one bulk call.

When the job of a coalescable call (see :mod:`billhive.workers.coalescers`) starts, the
calls of the same kind queued right behind it in its tenant's lane join it: the run the
dispatcher lets start now (``Dispatcher.followers``: consecutive, and no unfinished write
outside the batch that any of them must wait for), cut at the first call of another
operation or group, and at the bulk operation's cap. The lot is sent as one call of the
bulk operation (a call alone too: its job holds that endpoint's budget), and each call
gets its own outcome from the answer.

The joined calls are marked ``running`` in this batch (``batch_job_id``) before the send,
and their jobs stay queued until the outcome is recorded: if the worker dies mid-call, the
head's job comes back first. An idempotent batch is then sent again with them; a
non-idempotent one becomes ``unknown_outcome``, the head by its own job and every joined
call by its own (each finds its attempt interrupted, as a single call would).

A bulk call of several calls that Billbee refuses as a whole before running any of it (a
400 or 413: a cap lower than ours, a body its model binding rejects; for an idempotent bulk
call any refusal) fails none of them: each is marked ``solo`` and goes out alone from then
on, so only a call that is itself refused fails, and a bad call cannot fail the good ones
queued around it. A non-idempotent bulk call refused in a way that may come after some of
its items ran (an error envelope, a 404) is sent again for none of them: every call of it
ends ``unknown_outcome``, as when its answer is lost.
"""

from __future__ import annotations

import time
from typing import Any

from redis.client import Pipeline
from rq.job import Job
from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.orm import Session

from billhive.billbee.envelope import BillbeeResponse
from billhive.billbee.errors import ApiError, InvalidCall, InvalidRequest, NotFound
from billhive.billbee.limits import bulk_items
from billhive.billbee.operations import Operation, get_operation
from billhive.db import utcnow
from billhive.logs import get_logger
from billhive.tenants.vault import TenantKey
from billhive.workers import payloads
from billhive.workers.coalesce import Coalescer, Member, Outcome
from billhive.workers.coalescers import COALESCERS
from billhive.workers.jobs import (
    UNOPENED_PAYLOAD,
    Attempt,
    apply_decision,
    claim,
    database_outage,
    scoped_client,
    send,
    start_call,
)
from billhive.workers.models import Call, CallStatus, job_id_for
from billhive.workers.outcomes import Decision, Verdict, decide
from billhive.workers.recording import cap_result, count_usage, finish_call, job_events
from billhive.workers.runtime import Runtime
from billhive.workers.stats import record_outcome

log = get_logger(__name__)

_PARTLY_RUN = "Billbee refused the bulk call after it may have carried out some of its calls"


def _queued_behind(rt: Runtime, session: Session, head: Call, limit: int) -> list[Call]:
    """The calls right behind ``head`` in its tenant's lane that the ordering rule lets
    join it, of the head's operation and still waiting for it (queued, or running in this
    batch after an attempt that never recorded its end), in order."""
    if limit <= 0:
        return []
    batch = job_id_for(head.id)
    job_ids = rt.dispatcher.followers(str(head.tenant_id), head.lane.value, batch, limit)
    ids = [int(j.removeprefix("call-")) for j in job_ids if j.startswith("call-")]
    found = {
        c.id: c
        for c in session.scalars(
            select(Call).where(Call.id.in_(ids), Call.tenant_id == head.tenant_id)
        )
    }
    calls: list[Call] = []
    for job_id in job_ids:
        call = found.get(int(job_id.removeprefix("call-"))) if job_id.startswith("call-") else None
        waiting = call is not None and (
            call.status is CallStatus.QUEUED
            or (call.status is CallStatus.RUNNING and call.batch_job_id == batch)
        )
        if call is None or not waiting or call.operation != head.operation or call.solo:
            break  # the run ends at the first other job, or one that must go alone
        calls.append(call)
    return calls


def _joining(
    entry: Coalescer,
    session: Session,
    head: Member,
    calls: list[Call],
    *,
    key: TenantKey | None,
    cap: int,
) -> list[tuple[Call, Member]]:
    """The calls of ``calls`` that join ``head``: the run of those the bulk form carries in
    the head's group, up to the cap. A call whose payload does not open fails here (not
    sent; its own job finds it final)."""
    joined: list[tuple[Call, Member]] = []
    members = [head]
    for call in calls:
        payload = payloads.open_call(key, call)
        if payload.purged or payload.unreadable:
            finish_call(session, call, CallStatus.FAILED, error=UNOPENED_PAYLOAD)
            continue
        member = Member(call.id, payload.params, payload.body)
        if (
            not entry.accepts(member.params, member.body)
            or entry.group(member) != entry.group(head)
            or entry.size([*members, member]) > cap
        ):
            break
        members.append(member)
        joined.append((call, member))
    return joined


def _mark_running(session: Session, head: Call, followers: list[Call]) -> list[Call]:
    """Mark the joined calls running in the head's batch (committed with the head's
    ``batch_job_id``); returns those still waiting (a call cancelled meanwhile drops out,
    and its job is gone from the queue, so nothing is overtaken)."""
    batch = job_id_for(head.id)
    head.batch_job_id = batch
    now = utcnow()
    ids = [c.id for c in followers]
    marked: set[int] = set()
    if ids:
        rows = session.execute(
            update(Call)
            .where(
                Call.id.in_(ids),
                or_(
                    Call.status == CallStatus.QUEUED,
                    and_(Call.status == CallStatus.RUNNING, Call.batch_job_id == batch),
                ),
            )
            .values(
                status=CallStatus.RUNNING,
                attempts=Call.attempts + 1,
                attempt_started_at=now,
                started_at=func.coalesce(Call.started_at, now),
                batch_job_id=batch,
                version=Call.version + 1,
            )
            .returning(Call.id)
            .execution_options(synchronize_session=False)
        )
        marked = {row[0] for row in rows}
    session.commit()
    if not marked:
        return []
    fresh = {
        c.id: c
        for c in session.scalars(
            select(Call).where(Call.id.in_(marked)).execution_options(populate_existing=True)
        )
    }
    return [fresh[c.id] for c in followers if c.id in fresh]


def _record_answer(
    session: Session,
    batch: list[Call],
    outcomes: dict[int, Outcome],
    response: BillbeeResponse,
    *,
    events: Pipeline,
    key: TenantKey | None,
) -> None:
    """Give every call of the batch its own outcome (one commit)."""
    now = utcnow()
    for call in batch:
        outcome = outcomes[call.id]
        call.http_status = response.status_code
        if key is not None and outcome.result is not None:
            text, call.result_truncated = cap_result(outcome.result)
            payloads.seal_result_text(key, call, text)
        call.error = outcome.error
        call.error_code = outcome.error_code
        call.error_name = outcome.error_name
        call.status = outcome.status
        call.finished_at = now
        record_outcome(events, outcome.status.value)
    session.commit()


def _settle_followers(
    followers: list[Call], attempt: Attempt, decision: Decision, events: Pipeline
) -> None:
    """No answer for the batch: the joined calls share the head's fate when it may have
    happened (``unknown_outcome``: never sent again); otherwise they go back to waiting
    and join the head's next attempt (or go on without it). Not committed."""
    now = utcnow()
    for call in followers:
        if decision.verdict is Verdict.UNKNOWN_OUTCOME:
            call.status = CallStatus.UNKNOWN_OUTCOME
            call.error = str(attempt.error) if attempt.error is not None else decision.reason
            call.http_status = getattr(attempt.error, "status_code", None)
            call.error_code = getattr(attempt.error, "error_code", None)
            call.error_name = getattr(attempt.error, "error_name", None)
            call.finished_at = now
            record_outcome(events, CallStatus.UNKNOWN_OUTCOME.value)
            continue
        call.status = CallStatus.QUEUED
        call.batch_job_id = None
        call.attempt_started_at = None
        # The attempt was the head's: a joined call that goes back to waiting has used
        # none of its own, so a batch retried many times cannot use its budget up.
        call.attempts -= 1


#: The answers that show Billbee ran none of a bulk call's items: its model binding or its
#: size check refused the request before the action started.
_REFUSED_BEFORE_RUNNING = frozenset({400, 413})


def refused_as_a_whole(attempt: Attempt, decision: Decision, operation: Operation) -> bool:
    """Billbee refused the bulk call itself (not an outage, not a verdict about one item)
    in a way that lets its calls go again one by one, which shows which, if any, it
    refuses. For a non-idempotent bulk call only a refusal before anything ran counts: an
    error envelope or a 404 may come after some items were carried out, and sending those
    again would create them twice."""
    error = attempt.error
    if decision.verdict is not Verdict.FAILED:
        return False
    if isinstance(error, InvalidCall):
        return True  # never sent
    if isinstance(error, InvalidRequest) and error.status_code in _REFUSED_BEFORE_RUNNING:
        return True
    return operation.idempotent and isinstance(error, ApiError | InvalidRequest | NotFound)


def may_have_run_partly(attempt: Attempt, decision: Decision, operation: Operation) -> bool:
    """A non-idempotent bulk call Billbee answered with a refusal of the whole call that
    does not show nothing ran (see :func:`refused_as_a_whole`): each of its calls may have
    been carried out, so none may be sent again."""
    return (
        decision.verdict is Verdict.FAILED
        and not operation.idempotent
        and attempt.reached_billbee
        and not refused_as_a_whole(attempt, decision, operation)
    )


def _go_alone(
    rt: Runtime,
    session: Session,
    head: Call,
    followers: list[Call],
    attempt: Attempt,
    *,
    events: Pipeline,
    key: TenantKey | None,
) -> dict[str, Any]:
    """The batch was refused as a whole: every call of it is marked ``solo``, the joined
    calls go back to waiting, and the head goes again at once, alone. The refused attempt
    counts against none of them (each gets its own verdict when it goes alone). Raises
    CallDeferred (the head waits at the front of its lane)."""
    _settle_followers(followers, attempt, Decision(Verdict.FAILED), events)
    for call in (head, *followers):
        call.solo = True
    head.batch_job_id = None
    head.attempts -= 1
    reason = "Billbee refused the bulk call as a whole; each call goes alone"
    log.warning(
        "bulk_call_refused",
        call_id=head.id,
        calls=1 + len(followers),
        error=type(attempt.error).__name__,
    )
    return apply_decision(
        rt,
        session,
        head,
        attempt=attempt,
        decision=Decision(Verdict.RETRY, 0.0, reason),
        events=events,
        key=key,
    )


def _take_off_queue(rt: Runtime, calls: list[Call]) -> None:
    """The joined calls are done with the batch: their jobs leave the queue and the
    unfinished writes (after their outcome is committed)."""
    for call in calls:
        rt.dispatcher.discard(str(call.tenant_id), job_id_for(call.id))
        Job(job_id_for(call.id), connection=rt.redis).delete(remove_from_queue=False)


def run_batch(rt: Runtime, call_id: int) -> dict[str, Any]:
    """Send the coalescable call ``call_id`` with the calls that may join it."""
    with rt.database.session() as session:
        with database_outage(rt, job_id_for(call_id)):
            started = start_call(rt, session, call_id)
            if started is None:
                return {"call_id": call_id, "status": "skipped"}
            head, tenant = started
            if not claim(session):
                return {"call_id": call_id, "status": "skipped"}
            entry = COALESCERS[head.operation]
            key = payloads.key_of(rt.vault, tenant.credentials)
            payload = payloads.open_call(key, head)
            if payload.purged or payload.unreadable:
                finish_call(session, head, CallStatus.FAILED, error=UNOPENED_PAYLOAD)
                return {"call_id": call_id, "status": "failed"}
            first = Member(head.id, payload.params, payload.body)
            cap = entry.cap(rt.settings.bulk_caps)
            behind = [] if head.solo else _queued_behind(rt, session, head, cap - 1)
            joined = _joining(entry, session, first, behind, key=key, cap=cap)
            followers = _mark_running(session, head, [call for call, _ in joined])
            still = {c.id for c in followers}
            members = [first, *(m for call, m in joined if call.id in still)]
            batch = [head, *followers]
        rt.note_database_available()
        request = entry.request(members)
        operation = get_operation(entry.bulk_operation)
        with scoped_client(rt, session, tenant.id) as client:
            session.commit()
            sent = time.perf_counter()
            attempt: Attempt = send(client, operation, request.params, request.body)
            if attempt.reached_billbee:
                rt.note_call_latency(time.perf_counter() - sent)
        with job_events(rt.redis) as events:
            count_usage(
                session, events, tenant.id, reached=attempt.reached_billbee, error=attempt.error
            )
            decision = decide(attempt.error, operation, head.attempts, rt.policy)
            if attempt.response is None and followers:
                if refused_as_a_whole(attempt, decision, operation):
                    return _go_alone(rt, session, head, followers, attempt, events=events, key=key)
                if may_have_run_partly(attempt, decision, operation):
                    decision = Decision(Verdict.UNKNOWN_OUTCOME, reason=_PARTLY_RUN)
            if attempt.response is None:
                _settle_followers(followers, attempt, decision, events)
                if decision.verdict is not Verdict.UNKNOWN_OUTCOME:
                    head.batch_job_id = None
                result = apply_decision(
                    rt, session, head, attempt=attempt, decision=decision, events=events, key=key
                )
                # Only an unknown outcome returns with followers still marked (a wait
                # raises CallDeferred after the commit; a failure put them back).
                if decision.verdict is Verdict.UNKNOWN_OUTCOME:
                    _take_off_queue(rt, followers)
                return result
            outcomes = entry.outcomes(members, attempt.response)
            _record_answer(session, batch, outcomes, attempt.response, events=events, key=key)
        _take_off_queue(rt, followers)
        return {
            "call_id": call_id,
            "status": "batched",
            "calls": len(batch),
            "sent": bulk_items(entry.bulk_operation, request.body),
        }
