"""Coalesced stock updates: a tenant's queued stock values go out as one updatestockmultiple.

When a stock job starts, the stock calls queued right behind it (consecutive, so no other
operation is overtaken) join it, up to the batch size. Values are absolute, so per SKU (and
stock) only the latest one is sent; the earlier ones are recorded as succeeded and
superseded. Each call keeps its own outcome, read from Billbee's per-item results.

The joined jobs stay in the queue until the batch's outcome is recorded: if the worker dies
mid-call, the retried head job takes them again and sends the same absolute values, which
is harmless.
"""

from __future__ import annotations

import time
from typing import Any

from redis.client import Pipeline
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.billbee.envelope import BillbeeResponse, parse_envelope
from billhive.billbee.errors import error_name
from billhive.billbee.operations import get_operation
from billhive.db import utcnow
from billhive.tenants.vault import TenantKey
from billhive.workers import payloads
from billhive.workers.calls import STOCK_BATCH_OPERATION, STOCK_OPERATION
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
from billhive.workers.outcomes import decide
from billhive.workers.recording import count_usage, finish_call, job_events
from billhive.workers.runtime import Runtime
from billhive.workers.stats import record_outcome


def _followers(rt: Runtime, session: Session, head: Call, limit: int) -> list[Call]:
    """The queued stock calls right behind ``head`` in its tenant's lane that may join it
    (the dispatcher checks their order), in order."""
    if limit <= 0:
        return []
    job_ids = rt.dispatcher.followers(
        str(head.tenant_id), head.lane.value, job_id_for(head.id), limit
    )
    ids = [int(j.removeprefix("call-")) for j in job_ids if j.startswith("call-")]
    found = {
        c.id: c
        for c in session.scalars(
            select(Call).where(Call.id.in_(ids), Call.tenant_id == head.tenant_id)
        )
    }
    followers: list[Call] = []
    for job_id in job_ids:
        call = found.get(int(job_id.removeprefix("call-"))) if job_id.startswith("call-") else None
        if call is None or call.operation != STOCK_OPERATION or call.status != CallStatus.QUEUED:
            break  # the run of stock updates ends at the first other job
        followers.append(call)
    return followers


class StockValue:
    """A queued stock call and its opened body (the SKU and quantity are sealed)."""

    __slots__ = ("body", "id")

    def __init__(self, call_id: int, body: Any) -> None:
        self.id = call_id
        self.body = body


def merge(calls: list[StockValue]) -> tuple[list[dict[str, Any]], dict[int, int]]:
    """The bodies to send (latest value per SKU and stock, in arrival order of that value)
    and, for each superseded call, the id of the call whose value replaced it."""
    latest: dict[tuple[str, Any], StockValue] = {}
    for call in calls:
        latest[_target(call)] = call
    winners = {c.id for c in latest.values()}
    superseded = {c.id: latest[_target(c)].id for c in calls if c.id not in winners}
    bodies = [dict(c.body or {}) for c in calls if c.id in winners]
    return bodies, superseded


def _target(call: StockValue) -> tuple[str, Any]:
    """What a stock value is for: the SKU and, when given, the stock."""
    body = call.body or {}
    return str(body.get("Sku")), body.get("StockId")


def _item_outcome(item: Any) -> tuple[CallStatus, dict[str, Any]]:
    """One element of updatestockmultiple's answer: (status, fields for the call row;
    ``result`` is sealed, the others are set as they are)."""
    entry: BillbeeResponse = parse_envelope(item)
    if entry.ok:
        return CallStatus.SUCCEEDED, {"result": entry.data}
    return CallStatus.FAILED, {
        "error_code": entry.error_code,
        "error_name": error_name(entry.error_code),
        "error": entry.error_message or error_name(entry.error_code),
    }


def _record_batch(
    rt: Runtime,
    session: Session,
    batch: list[Call],
    response: BillbeeResponse,
    *,
    superseded: dict[int, int],
    batch_job_id: str,
    events: Pipeline,
    key: TenantKey | None,
) -> None:
    """Give every call of the batch its own outcome and take the joined jobs off the queue."""
    items = response.data if isinstance(response.data, list) else []
    sent = [c for c in batch if c.id not in superseded]
    outcomes = {c.id: _item_outcome(item) for c, item in zip(sent, items, strict=False)}
    now = utcnow()
    for call in batch:
        call.http_status = response.status_code
        call.batch_job_id = batch_job_id
        call.started_at = call.started_at or now
        if call.id in superseded:
            status, fields = (
                CallStatus.SUCCEEDED,
                {"result": {"superseded_by": superseded[call.id]}},
            )
        else:
            status, fields = outcomes.get(
                call.id,
                (CallStatus.FAILED, {"error": "no result for this item in Billbee's answer"}),
            )
        result = fields.pop("result", None)
        if key is not None:
            payloads.seal_result(key, call, result)
        for name, value in fields.items():
            setattr(call, name, value)
        if call is not batch[0]:
            call.attempts += 1
            # Out of its queue and of the unfinished writes: it is done with the batch.
            rt.dispatcher.discard(str(call.tenant_id), job_id_for(call.id))
            Job(job_id_for(call.id), connection=rt.redis).delete(remove_from_queue=False)
        record_outcome(events, status.value)
        finish_call(session, call, status)


def run_stock_batch(rt: Runtime, call_id: int) -> dict[str, Any]:
    """Send the stock call ``call_id`` and the stock calls queued right behind it."""
    with rt.database.session() as session:
        with database_outage(rt, job_id_for(call_id)):
            started = start_call(rt, session, call_id)
            if started is None:
                return {"call_id": call_id, "status": "skipped"}
            head, tenant = started
            if not claim(session):
                return {"call_id": call_id, "status": "skipped"}
            batch = [head, *_followers(rt, session, head, rt.settings.stock_batch_size - 1)]
            key = payloads.key_of(rt.vault, tenant.credentials)
            opened = []
            for call in batch:
                payload = payloads.open_call(key, call)
                if payload.purged or payload.unreadable:
                    # Not sent; a follower's own job finds it final and skips it.
                    finish_call(session, call, CallStatus.FAILED, error=UNOPENED_PAYLOAD)
                    if call is head:
                        return {"call_id": call_id, "status": "failed"}
                    continue
                opened.append((call, payload))
            batch = [call for call, _ in opened]
        rt.note_database_available()
        bodies, superseded = merge([StockValue(call.id, p.body) for call, p in opened])
        del opened
        operation = get_operation(STOCK_BATCH_OPERATION)
        with scoped_client(rt, session, tenant.id) as client:
            session.commit()
            sent = time.perf_counter()
            attempt: Attempt = send(client, operation, {}, bodies)
            if attempt.reached_billbee:
                rt.note_call_latency(time.perf_counter() - sent)
        with job_events(rt.redis) as events:
            count_usage(
                session, events, tenant.id, reached=attempt.reached_billbee, error=attempt.error
            )
            decision = decide(attempt.error, operation, head.attempts, rt.policy)
            if attempt.response is None:
                # The whole batch waits or fails with the head; followers stay queued.
                return apply_decision(
                    rt, session, head, attempt=attempt, decision=decision, events=events, key=key
                )
            _record_batch(
                rt,
                session,
                batch,
                attempt.response,
                superseded=superseded,
                batch_job_id=job_id_for(head.id),
                events=events,
                key=key,
            )
        return {"call_id": call_id, "status": "batched", "calls": len(batch), "sent": len(bodies)}
