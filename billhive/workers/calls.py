"""Enqueue, cancel and requeue Billbee calls: the one way work reaches a tenant's queue.

A call is first committed as a ``Call`` row, then its job (id ``call-<id>``, arguments:
the call id only) is pushed onto the tenant's queue with the limit buckets it will
consume. The row is the truth: if Redis refuses the push, or loses the job later, the
call stays ``queued`` and the reconciler (``workers/reconcile.py``) pushes its job again.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, cast

from redis import Redis
from redis.client import Pipeline
from redis.exceptions import RedisError
from rq import Retry
from rq.exceptions import NoSuchJobError
from rq.job import Job
from sqlalchemy import Integer, String, Table, bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.sql.selectable import ExecutableReturnsRows

from billhive.billbee.errors import InvalidCall
from billhive.billbee.limits import BULK_FORMS, Bucket, buckets_for
from billhive.billbee.operations import Operation, UnknownOperation, get_operation
from billhive.billbee.request import normalize_params
from billhive.db import utcnow
from billhive.logs import get_logger
from billhive.tenants.lifecycle import CLOSED, takes_calls
from billhive.tenants.models import Tenant
from billhive.tenants.vault import TenantKey, Vault
from billhive.workers import gates, payloads
from billhive.workers.coalescers import planned
from billhive.workers.models import ORDERING_KEY_MAX, Call, CallStatus, Lane, job_id_for
from billhive.workers.queues import enqueue_for_tenant
from billhive.workers.scheduling.dispatcher import Dispatcher, Order
from billhive.workers.stock import STOCK_OPERATION

#: The key id in bucket keys: one Billbee API key serves the whole platform.
KEY_ID = "billbee"
#: Stock updates are sent as updatestockmultiple, so they consume that endpoint's budget.
STOCK_BATCH_OPERATION = BULK_FORMS[STOCK_OPERATION]
CALL_JOB = "billhive.workers.jobs.run_call"
#: The job of a coalescable call: it takes the calls queued behind it into one bulk call.
BATCH_JOB = "billhive.workers.jobs.run_batch"
#: The same job under the name stock updates had before other calls coalesced (kept, so
#: their jobs look as they always did).
STOCK_JOB = "billhive.workers.jobs.run_stock_update"
#: RQ re-queues a deferred job (429, backoff, paused credentials) at the head of its tenant's
#: queue through this many retries; the call's own attempt policy decides when to give up.
RQ_RETRIES = 10_000
JOB_TIMEOUT = 120
#: How long RQ keeps a finished job's result (the Call row keeps the outcome for good).
RESULT_TTL = 24 * 3600
#: Tenants whose calls are refused at enqueue time.
MAX_SKU_LENGTH = 255
#: A batch of more calls than this goes to the bulk lane unless a request names its lane.
BULK_BATCH_SIZE = 10

log = get_logger(__name__)


class CallRejected(ValueError):
    """The request cannot become a call; ``field`` names the offending input (or None)."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


@dataclass(frozen=True)
class StockItem:
    """One absolute stock value for one SKU (Billbee's ``NewQuantity``)."""

    sku: str
    quantity: float
    stock_id: int | None = None
    reason: str | None = None

    def as_body(self) -> dict[str, Any]:
        """The UpdateStock body Billbee expects."""
        body: dict[str, Any] = {"Sku": self.sku, "NewQuantity": self.quantity}
        if self.stock_id is not None:
            body["StockId"] = self.stock_id
        if self.reason:
            body["Reason"] = self.reason
        return body


@dataclass(frozen=True)
class CallRequest:
    """One Billbee operation to run for a tenant: its name, parameters and body; its lane
    (``priority``: interactive, bulk or background; None for the default) and the key it
    is ordered by (``ordering_key``, see docs/scheduling.md)."""

    operation: str
    params: Mapping[str, Any] | None = None
    body: Any = None
    priority: str | None = None
    ordering_key: str | None = None


@dataclass(frozen=True)
class PendingCall:
    """A checked call ready to record, with its payloads in plaintext until they are
    sealed onto the row (which needs the row's id)."""

    call: Call
    params: dict[str, Any]
    body: Any


@dataclass(frozen=True)
class JobPlan:
    """How a recorded call's job is queued: its function, its limit buckets and its place
    in the tenant's order."""

    func: str
    buckets: list[Bucket]
    order: Order


def _lane(priority: str | None, default: Lane, where: str) -> Lane:
    if priority is None:
        return default
    try:
        return Lane(priority)
    except ValueError:
        lanes = ", ".join(lane.value for lane in Lane)
        raise CallRejected(f"priority must be one of {lanes}", field=f"{where}priority") from None


def _ordering_key(key: Any, where: str) -> str | None:
    if key is None:
        return None
    if (
        not isinstance(key, str)
        or not key.strip()
        or len(key) > ORDERING_KEY_MAX
        or any(c in key for c in "\t\r\n")
    ):
        raise CallRejected(
            f"ordering_key must be text of 1-{ORDERING_KEY_MAX} characters without tabs or "
            "line breaks",
            field=f"{where}ordering_key",
        )
    return key


def call_buckets(operation: Operation, params: Mapping[str, Any], tenant_id: int) -> list[Bucket]:
    """The limit buckets one call of ``operation`` consumes for ``tenant_id``."""
    return buckets_for(operation, params, key_id=KEY_ID, user_id=str(tenant_id))


class UnknownTenant(CallRejected):
    """The tenant does not exist (a closed tenant is a plain :class:`CallRejected`)."""

    def __init__(self, tenant_id: int) -> None:
        super().__init__(f"no tenant with id {tenant_id}", field="tenant_id")


class InvoicePermissionMissing(CallRejected):
    """An invoice or delivery note for a tenant that has not allowed invoice creation."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="operation")


class BudgetExhausted(CallRejected):
    """The tenant's hard monthly call budget is used up."""

    def __init__(self, message: str) -> None:
        super().__init__(message, field="tenant_id")


def _tenant_refusal(
    session: Session, tenant_id: int, *, needs_invoice_permission: bool = False
) -> CallRejected:
    """Why ``tenant_id`` takes no calls: it does not exist, it is closed, or a gate of
    :mod:`billhive.workers.gates` (invoice permission, hard budget) holds."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return UnknownTenant(tenant_id)
    if not takes_calls(tenant.status):
        return CallRejected(
            f"tenant {tenant_id} is {tenant.status.value} and takes no calls", field="tenant_id"
        )
    reason = gates.refusal_reason(
        session, tenant, needs_invoice_permission=needs_invoice_permission
    )
    if reason is not None and reason.refusal is gates.Refusal.INVOICE_PERMISSION:
        return InvoicePermissionMissing(reason.message)
    if reason is not None:
        return BudgetExhausted(reason.message)
    return CallRejected(f"tenant {tenant_id} takes no calls now", field="tenant_id")


def _open_tenant(session: Session, tenant_id: int, *, needs_invoice_permission: bool) -> None:
    tenant = session.get(Tenant, tenant_id)
    if (
        tenant is None
        or not takes_calls(tenant.status)
        or gates.refusal_reason(session, tenant, needs_invoice_permission=needs_invoice_permission)
    ):
        raise _tenant_refusal(session, tenant_id, needs_invoice_permission=needs_invoice_permission)


def _checked(request: CallRequest, where: str) -> tuple[Operation, dict[str, Any]]:
    try:
        op = get_operation(request.operation)
    except UnknownOperation as exc:
        raise CallRejected(str(exc), field=f"{where}operation") from None
    try:
        normalized = normalize_params(op, request.params)
    except InvalidCall as exc:
        field = f"{where}params.{exc.param}" if exc.param else f"{where}params"
        raise CallRejected(str(exc), field=field) from None
    if request.body is not None and not op.has_body:
        raise CallRejected(f"{op.name} takes no request body", field=f"{where}body")
    return op, normalized


def job_options(call: Call) -> dict[str, Any]:
    """RQ's options for the job of ``call`` (the enqueue's and the reconciler's)."""
    return {
        "retry": Retry(max=RQ_RETRIES),
        "timeout": JOB_TIMEOUT,
        "result_ttl": RESULT_TTL,
        "failure_ttl": 7 * 24 * 3600,
        "description": f"{call.operation} for tenant {call.tenant_id} (call {call.id})",
    }


def job_plan(call: Call, params: Mapping[str, Any], body: Any = None) -> JobPlan:
    """The job function, limit buckets and order of a recorded call's job (``params`` and
    ``body``: its opened payloads; some buckets are per resource, and they say whether the
    call can travel inside a bulk call)."""
    entry = planned(call.operation, params, body, call.consumer)
    if entry is not None:
        # Sent inside the bulk operation, so the job consumes that endpoint's budget; the
        # batch takes the jobs queued behind it, so it runs alone in its lane.
        op = get_operation(entry.bulk_operation)
        buckets = call_buckets(op, {}, call.tenant_id)
        if op.reads_only:
            order = Order(write=False, key=call.ordering_key or "", exclusive=True)
        else:
            order = Order(key=call.ordering_key or "*", exclusive=True)
        func = STOCK_JOB if call.operation == STOCK_OPERATION else BATCH_JOB
        return JobPlan(func, buckets, order)
    op = get_operation(call.operation)
    buckets = call_buckets(op, params, call.tenant_id)
    if op.reads_only:
        return JobPlan(CALL_JOB, buckets, Order(write=False, key=call.ordering_key or ""))
    return JobPlan(CALL_JOB, buckets, Order(key=call.ordering_key or "*"))


def _push(redis: Redis, pipe: Pipeline, call: Call, plan: JobPlan) -> Job:
    return enqueue_for_tenant(
        redis,
        str(call.tenant_id),
        plan.func,
        args=(call.id,),
        buckets=plan.buckets,
        job_id=job_id_for(call.id),
        pipeline=pipe,
        lane=call.lane.value,
        order=plan.order,
        **job_options(call),
    )


def _push_all(redis: Redis, calls: Sequence[tuple[Call, Mapping[str, Any], Any]]) -> None:
    """Push the committed calls' jobs in one MULTI/EXEC, in order.

    If Redis refuses, the calls stay queued and the reconciler pushes them once Redis
    answers (job ids are derived from call ids, so a push that did apply is not doubled).
    """
    try:
        with redis.pipeline() as pipe:
            for call, params, body in calls:
                _push(redis, pipe, call, job_plan(call, params, body))
            pipe.execute()
    except RedisError as exc:
        log.warning("calls_push_deferred", calls=len(calls), error=type(exc).__name__)


def enqueue_call(
    tenant_id: int,
    operation: str,
    params: Mapping[str, Any] | None = None,
    *,
    body: Any = None,
    session: Session,
    redis: Redis,
    vault: Vault,
    origin_token_id: int | None = None,
    priority: str | None = None,
    ordering_key: str | None = None,
    consumer: str | None = None,
) -> Call:
    """Record a call of ``operation`` for ``tenant_id`` and queue it (commits the session).

    ``priority`` is the call's lane (default: interactive; bulk for a stock update);
    ``ordering_key`` narrows the calls it is ordered with (docs/scheduling.md).

    Raises :class:`CallRejected` naming the field for a closed tenant, an unknown
    operation, bad parameters or a body the operation does not take, and
    :class:`UnknownTenant` for a tenant that does not exist. ``origin_token_id`` is the API
    token asking (told through its callback when the call finishes).
    ``products.update_stock`` goes the coalescing stock path (see
    :func:`enqueue_stock_updates`). ``consumer`` (``module:function``, see
    workers/consumers.py) takes the whole answer when the call succeeds.
    """
    request = CallRequest(operation, params, body, priority, ordering_key)
    pending = _pending(tenant_id, request, origin_token_id)
    if consumer is not None:
        if pending.call.operation == STOCK_OPERATION:
            raise CallRejected("a coalesced stock update cannot name a consumer", field="consumer")
        pending.call.consumer = consumer
    return _enqueue(session, redis, vault, [pending])[0]


def enqueue_calls(
    tenant_id: int,
    requests: Sequence[CallRequest],
    *,
    session: Session,
    redis: Redis,
    vault: Vault,
    origin_token_id: int | None = None,
) -> list[Call]:
    """Record several calls for one tenant in one INSERT and queue them in this order
    (commits the session); all or none: a bad request names its position
    (``calls[3].params``) and nothing is recorded. A batch of more than
    :data:`BULK_BATCH_SIZE` calls goes to the bulk lane unless a request names its lane.
    Otherwise like :func:`enqueue_call`.
    """
    if not requests:
        raise CallRejected("no calls given", field="calls")
    default = Lane.BULK if len(requests) > BULK_BATCH_SIZE else Lane.INTERACTIVE
    pending = [
        _pending(tenant_id, request, origin_token_id, f"calls[{index}].", default)
        for index, request in enumerate(requests)
    ]
    return _enqueue(session, redis, vault, pending)


def _pending(
    tenant_id: int,
    request: CallRequest,
    origin_token_id: int | None,
    where: str = "",
    default_lane: Lane = Lane.INTERACTIVE,
) -> PendingCall:
    """A checked call, ready to record (not added to a session)."""
    op, normalized = _checked(request, where)
    key = _ordering_key(request.ordering_key, where)
    if op.name == STOCK_OPERATION:
        if not isinstance(request.body, Mapping):
            raise CallRejected(
                "products.update_stock needs a body with Sku and NewQuantity",
                field=f"{where}body",
            )
        item = check_stock_item(_stock_item_from_body(request.body), where)
        lane = _lane(request.priority, Lane.BULK, where)
        return _pending_stock(tenant_id, item, origin_token_id, lane, key)
    call = Call(
        tenant_id=tenant_id,
        operation=op.name,
        origin_token_id=origin_token_id,
        lane=_lane(request.priority, default_lane, where),
        ordering_key=key,
    )
    return PendingCall(call, normalized, request.body)


def stock_ordering_key(sku: str) -> str:
    """The key a stock update is ordered by: its SKU. A stock value is absolute and
    touches that article only, so updates of different SKUs need no order between them;
    updates of one SKU keep theirs (derived, so callers need not name it)."""
    return f"sku:{sku}"[:ORDERING_KEY_MAX]


def _pending_stock(
    tenant_id: int,
    item: StockItem,
    origin_token_id: int | None,
    lane: Lane = Lane.BULK,
    key: str | None = None,
) -> PendingCall:
    # The SKU orders the call (a plain ordering key the dispatcher reads); the body with
    # the SKU and quantity is sealed like every payload.
    call = Call(
        tenant_id=tenant_id,
        operation=STOCK_OPERATION,
        origin_token_id=origin_token_id,
        lane=lane,
        ordering_key=key or stock_ordering_key(item.sku),
    )
    return PendingCall(call, {}, item.as_body())


def _enqueue(
    session: Session, redis: Redis, vault: Vault, pending: Sequence[PendingCall]
) -> list[Call]:
    calls = _record(session, vault, pending)
    _push_all(redis, [(call, p.params, p.body) for call, p in zip(calls, pending, strict=True)])
    return calls


@functools.cache
def _insert_if_open() -> ExecutableReturnsRows:
    """``INSERT INTO calls ... SELECT ... FROM tenants WHERE <open> RETURNING *``, loaded as
    a Call; built once, since building it costs more than running it."""
    row = select(
        Tenant.id,
        bindparam("operation", type_=String),
        bindparam("origin_token_id", type_=Integer),
        bindparam("lane", type_=String),
        bindparam("ordering_key", type_=String),
        bindparam("consumer", type_=String),
    ).where(
        Tenant.id == bindparam("tenant_id"),
        # One plain comparison per status: an IN list would be expanded on every execution.
        *(Tenant.status != status for status in sorted(CLOSED)),
        # The invoice permission and the hard budget, in the same statement.
        *gates.insert_conditions(),
    )
    table = cast(Table, Call.__table__)
    columns = [
        "tenant_id",
        "operation",
        "origin_token_id",
        "lane",
        "ordering_key",
        "consumer",
    ]
    return select(Call).from_statement(insert(table).from_select(columns, row).returning(*table.c))


def _tenant_key(session: Session, vault: Vault, tenant_id: int, needs_invoice: bool) -> TenantKey:
    """The data key the tenant's payloads are sealed with; a tenant without one (deleted,
    its key shredded) takes no calls."""
    key = payloads.key_for(session, vault, tenant_id)
    if key is None:
        session.rollback()
        raise _tenant_refusal(session, tenant_id, needs_invoice_permission=needs_invoice)
    return key


def _seal_and_commit(
    session: Session, key: TenantKey, calls: Sequence[Call], pending: Sequence[PendingCall]
) -> None:
    for call, plain in zip(calls, pending, strict=True):
        payloads.seal_request(key, call, plain.params, plain.body)
    session.commit()


def _record(session: Session, vault: Vault, pending: Sequence[PendingCall]) -> list[Call]:
    """Insert the calls of one tenant if it takes calls, seal their payloads and commit,
    before any job exists: a worker must always find the row of the job it takes.

    Returns the stored calls. The payloads are sealed bound to the call id, so a row is
    inserted first and sealed in the same transaction: no one ever sees it without them.
    One call is inserted by a single ``INSERT ... SELECT`` that also checks the tenant
    (enqueueing one call is the API's hot path). Several calls are checked once and
    inserted in one multi-row INSERT (whose RETURNING order SQLAlchemy guarantees).
    """
    calls = [p.call for p in pending]
    tenant_id = calls[0].tenant_id
    needs_invoice = any(c.operation in gates.INVOICE_OPERATIONS for c in calls)
    key = _tenant_key(session, vault, tenant_id, needs_invoice)
    if len(calls) > 1:
        _open_tenant(session, tenant_id, needs_invoice_permission=needs_invoice)
        session.add_all(calls)
        session.flush()
        _seal_and_commit(session, key, calls, pending)
        return list(calls)
    call = calls[0]
    stored: Call | None = session.scalars(
        _insert_if_open(),
        {
            "tenant_id": tenant_id,
            "operation": call.operation,
            "origin_token_id": call.origin_token_id,
            "lane": call.lane.value,
            "ordering_key": call.ordering_key,
            "consumer": call.consumer,
            "needs_invoice_permission": needs_invoice,
            "month_start": gates.month_start(),
        },
    ).one_or_none()
    if stored is None:
        session.rollback()
        raise _tenant_refusal(session, tenant_id, needs_invoice_permission=needs_invoice)
    payloads.seal_inserted_request(session, key, stored, pending[0].params, pending[0].body)
    session.commit()
    return [stored]


def _stock_item_from_body(body: Mapping[str, Any]) -> StockItem:
    """The UpdateStock body as an item; not yet checked."""
    sku = body.get("Sku") or body.get("SKU")
    return StockItem(
        sku=str(sku) if sku is not None else "",
        quantity=cast(float, body.get("NewQuantity")),  # checked by check_stock_item
        stock_id=body.get("StockId"),
        reason=body.get("Reason"),
    )


def check_stock_item(item: StockItem, where: str = "") -> StockItem:
    """Return ``item`` if Billbee would take it, else raise naming the field (after the
    prefix ``where``, e.g. ``items[2].``)."""
    if not isinstance(item.sku, str) or not item.sku.strip():
        raise CallRejected("a stock update needs a non-empty SKU", field=f"{where}sku")
    if len(item.sku) > MAX_SKU_LENGTH:
        raise CallRejected(f"SKU longer than {MAX_SKU_LENGTH} characters", field=f"{where}sku")
    if isinstance(item.quantity, bool) or not isinstance(item.quantity, int | float):
        raise CallRejected("quantity must be a number", field=f"{where}quantity")
    if item.quantity != item.quantity or item.quantity in (float("inf"), float("-inf")):
        raise CallRejected("quantity must be a finite number", field=f"{where}quantity")
    if item.stock_id is not None and (
        isinstance(item.stock_id, bool) or not isinstance(item.stock_id, int)
    ):
        raise CallRejected("stock_id must be an integer", field=f"{where}stock_id")
    if item.reason is not None and (not isinstance(item.reason, str) or len(item.reason) > 300):
        raise CallRejected("reason must be text of at most 300 characters", field=f"{where}reason")
    return item


def enqueue_stock_updates(
    tenant_id: int,
    items: Sequence[StockItem],
    *,
    session: Session,
    redis: Redis,
    vault: Vault,
    origin_token_id: int | None = None,
    priority: str | None = None,
) -> list[Call]:
    """Queue absolute stock values; one Call (and outcome) per item (commits the session);
    in the bulk lane unless ``priority`` says otherwise, each ordered by its SKU.

    The worker merges consecutive stock updates of a tenant into ``updatestockmultiple``
    calls, so thousands a minute fit into that endpoint's 2 calls/s. Raises like
    :func:`enqueue_call`.
    """
    if not items:
        raise CallRejected("no stock items given", field="items")
    where = "items[{}]." if len(items) > 1 else ""
    pending = [
        _pending_stock(
            tenant_id,
            check_stock_item(item, where.format(i)),
            origin_token_id,
            _lane(priority, Lane.BULK, ""),
        )
        for i, item in enumerate(items)
    ]
    return _enqueue(session, redis, vault, pending)


def cancel_call(call_id: int, *, session: Session, redis: Redis) -> bool:
    """Cancel a call that has not started; True if it was cancelled (commits)."""
    changed = session.execute(
        update(Call)
        .where(Call.id == call_id, Call.status == CallStatus.QUEUED)
        .values(
            status=CallStatus.CANCELLED,
            finished_at=utcnow(),
            error="cancelled",
            version=Call.version + 1,
        )
    )
    session.commit()
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    call = session.get(Call, call_id)
    if call is not None:
        # Take the job out of its queue so it costs no budget and nothing waits for it; if
        # a worker popped it in the meantime, the job sees the cancelled status and does
        # nothing.
        Dispatcher(redis).discard(str(call.tenant_id), job_id_for(call_id))
        drop_job(redis, job_id_for(call_id))
    return True


def drop_job(redis: Redis, job_id: str) -> None:
    """Delete an RQ job and its registry entries, if it still exists."""
    with contextlib.suppress(NoSuchJobError):
        Job.fetch(job_id, connection=redis).delete(remove_from_queue=True)


def requeue_calls(call_ids: Iterable[int], *, session: Session, redis: Redis, vault: Vault) -> int:
    """Queue failed or unknown-outcome calls again, at the tail; returns how many (commits).

    Each requeue starts a new round of the call, announced again when it ends.
    """
    from billhive.workers.reconcile import recheck_from

    ids = list(call_ids)
    calls = session.scalars(
        select(Call).where(
            Call.id.in_(ids), Call.status.in_([CallStatus.FAILED, CallStatus.UNKNOWN_OUTCOME])
        )
    ).all()
    pushes: list[Call] = []
    for call in calls:
        call.status = CallStatus.QUEUED
        call.attempts = 0
        call.requeues += 1
        call.error = call.error_name = None
        call.error_code = call.http_status = None
        call.finished_at = call.announced_at = None
        call.attempt_started_at = None
        pushes.append(call)
    if pushes:
        # These ids lie below the reconciler's cursor: make it look at them again.
        recheck_from(session, min(call.id for call in pushes))
    session.commit()
    try:
        for call in pushes:
            drop_job(redis, job_id_for(call.id))
    except RedisError as exc:
        log.warning("calls_push_deferred", calls=len(pushes), error=type(exc).__name__)
        return len(pushes)
    keys = payloads.keys_for(session, vault, {call.tenant_id for call in pushes})
    opened = [(call, payloads.open_call(keys.get(call.tenant_id), call)) for call in pushes]
    _push_all(redis, [(call, payload.params, payload.body) for call, payload in opened])
    return len(pushes)
