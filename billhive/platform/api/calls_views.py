"""``/api/v1`` calls: enqueue, list, get, cancel; and the stock path."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.billbee.operations import OPERATIONS
from billhive.platform import extensions
from billhive.platform.api import idempotency
from billhive.platform.api.auth import current_scope, tenant_not_found
from billhive.platform.api.blueprint import bp
from billhive.platform.api.errors import ApiError
from billhive.platform.api.operation_check import check_params
from billhive.platform.api.parsing import (
    MAX_BIG_ID,
    json_body,
    parse_body,
    query_choice,
    query_int,
    query_limit,
    query_time,
)
from billhive.platform.api.present import calls_json
from billhive.platform.api.schemas import EnqueueBatchRequest, EnqueueCallRequest, StockRequest
from billhive.platform.api.tenants_views import check_reachable, load_tenant
from billhive.workers.calls import (
    BudgetExhausted,
    CallRejected,
    CallRequest,
    InvoicePermissionMissing,
    StockItem,
    UnknownTenant,
    cancel_call,
    enqueue_call,
    enqueue_calls,
    enqueue_stock_updates,
)
from billhive.workers.models import Call, CallStatus

CALL_STATUSES = frozenset(s.value for s in CallStatus)
OPERATION_NAMES = frozenset(OPERATIONS)
_BRACKET_INDEX = re.compile(r"\[(\d+)\]")


def _rejected(exc: CallRejected, tenant_id: int, *, prefix: str = "") -> ApiError:
    """The API error for a call the workers refused."""
    if isinstance(exc, UnknownTenant):
        return tenant_not_found(tenant_id)
    if isinstance(exc, InvoicePermissionMissing):
        return ApiError(422, "invoice_creation_not_allowed", exc.message, field=exc.field)
    if isinstance(exc, BudgetExhausted):
        return ApiError(429, "call_budget_exhausted", exc.message, field=exc.field)
    if exc.field == "tenant_id":
        return ApiError(409, "tenant_not_accepting_calls", exc.message, field="tenant_id")
    field = _BRACKET_INDEX.sub(r".\1", exc.field) if exc.field else None
    if field and prefix and not field.startswith(prefix.rstrip(".")):
        field = prefix + field
    return ApiError(422, "validation_failed", exc.message, field=field)


def _answer(calls: list[Call], replayed: bool, payload: Any) -> ResponseReturnValue:
    response = jsonify(payload)
    response.status_code = 200 if replayed else 202
    if replayed:
        response.headers["Idempotent-Replayed"] = "true"
    return response


def _once(key: str | None, create: Callable[[], list[Call]]) -> tuple[list[Call], bool]:
    """Run ``create`` unless this token already sent this ``Idempotency-Key`` (see
    :func:`idempotency.run_once`); returns the calls and whether they are replayed."""
    fingerprint = idempotency.request_hash("POST", request.path, json_body())
    session = extensions.db_session()
    return idempotency.run_once(session, current_scope().token_id, key, fingerprint, create)


@bp.post("/tenants/<int:tenant_id>/calls")
def enqueue(tenant_id: int) -> ResponseReturnValue:
    """Queue one Billbee operation for the tenant; 202 with the call."""
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    check_reachable(tenant_id)
    asked = parse_body(EnqueueCallRequest)
    check_params(asked.operation, asked.params, asked.body, extensions.settings().bulk_caps)
    session = extensions.db_session()

    def create() -> list[Call]:
        try:
            call = enqueue_call(
                tenant_id,
                asked.operation,
                asked.params,
                body=asked.body,
                session=session,
                redis=extensions.redis(),
                vault=extensions.vault(),
                origin_token_id=current_scope().token_id,
                priority=asked.priority,
                ordering_key=asked.ordering_key,
            )
        except CallRejected as exc:
            raise _rejected(exc, tenant_id) from None
        return [call]

    calls, replayed = _once(key, create)
    return _answer(calls, replayed, _shown(calls)[0])


@bp.post("/tenants/<int:tenant_id>/calls/batch")
def enqueue_batch(tenant_id: int) -> ResponseReturnValue:
    """Queue several operations for the tenant in order, all or none; 202 with the calls."""
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    check_reachable(tenant_id)
    asked = parse_body(EnqueueBatchRequest)
    caps = extensions.settings().bulk_caps
    for index, item in enumerate(asked.calls):
        try:
            check_params(item.operation, item.params, item.body, caps)
        except ApiError as exc:
            exc.field = f"calls.{index}.{exc.field}" if exc.field else f"calls.{index}"
            raise
    session = extensions.db_session()

    def create() -> list[Call]:
        try:
            return enqueue_calls(
                tenant_id,
                [
                    CallRequest(c.operation, c.params, c.body, c.priority, c.ordering_key)
                    for c in asked.calls
                ],
                session=session,
                redis=extensions.redis(),
                vault=extensions.vault(),
                origin_token_id=current_scope().token_id,
            )
        except CallRejected as exc:
            raise _rejected(exc, tenant_id) from None

    calls, replayed = _once(key, create)
    return _answer(calls, replayed, {"calls": _shown(calls)})


@bp.post("/tenants/<int:tenant_id>/stock")
def stock(tenant_id: int) -> ResponseReturnValue:
    """Queue absolute stock levels, one call per item; 202 with one handle per item."""
    key = idempotency.check_key(request.headers.get(idempotency.HEADER))
    check_reachable(tenant_id)
    asked = parse_body(StockRequest)
    items = [
        StockItem(sku=i.sku, quantity=i.quantity, stock_id=i.stock_id, reason=i.reason)
        for i in asked.items
    ]
    session = extensions.db_session()

    def create() -> list[Call]:
        try:
            return enqueue_stock_updates(
                tenant_id,
                items,
                session=session,
                redis=extensions.redis(),
                vault=extensions.vault(),
                origin_token_id=current_scope().token_id,
                priority=asked.priority,
            )
        except CallRejected as exc:
            prefix = "items.0." if len(items) == 1 else ""
            raise _rejected(exc, tenant_id, prefix=prefix) from None

    calls, replayed = _once(key, create)
    handles = [
        {"sku": item.sku, "call": shown} for item, shown in zip(items, _shown(calls), strict=False)
    ]
    return _answer(calls, replayed, {"items": handles})


def _shown(calls: list[Call]) -> list[dict[str, Any]]:
    """The calls as the API shows them, payloads opened with their tenants' keys."""
    return calls_json(extensions.db_session(), extensions.vault(), calls)


def load_call(call_id: int) -> Call:
    """The call, if it exists and belongs to a tenant the token may reach; 404 otherwise."""
    call = extensions.db_session().get(Call, call_id) if call_id <= MAX_BIG_ID else None
    if call is None or not current_scope().allows(call.tenant_id):
        raise ApiError(404, "call_not_found", f"No call {call_id}.", field="call_id")
    return call


@bp.get("/calls/<int:call_id>")
def get_call(call_id: int) -> ResponseReturnValue:
    """One call: status, attempts, timings, result or error."""
    return jsonify(_shown([load_call(call_id)])[0])


@bp.post("/calls/<int:call_id>/cancel")
def cancel(call_id: int) -> ResponseReturnValue:
    """Cancel a call that is still queued; 409 once it has started or finished."""
    call = load_call(call_id)
    session = extensions.db_session()
    if not cancel_call(call.id, session=session, redis=extensions.redis()):
        session.refresh(call)
        raise ApiError(
            409,
            "call_not_cancellable",
            f"Call {call_id} is {call.status.value}; only queued calls can be cancelled.",
            field="call_id",
        )
    session.refresh(call)
    return jsonify(_shown([call])[0])


@bp.get("/tenants/<int:tenant_id>/calls")
def list_calls(tenant_id: int) -> ResponseReturnValue:
    """The tenant's calls by id, filtered by status, operation and enqueue time."""
    tenant = load_tenant(tenant_id)
    limit = query_limit()
    after = query_int("after", default=0, low=0, high=MAX_BIG_ID)
    status = query_choice("status", CALL_STATUSES)
    operation = query_choice("operation", OPERATION_NAMES)
    since, until = query_time("since"), query_time("until")
    query = (
        select(Call)
        .where(Call.tenant_id == tenant.id, Call.id > (after or 0))
        .order_by(Call.id)
        .limit(limit + 1)
    )
    if status:
        query = query.where(Call.status == CallStatus(status))
    if operation:
        query = query.where(Call.operation == operation)
    if since:
        query = query.where(Call.enqueued_at >= since)
    if until:
        query = query.where(Call.enqueued_at < until)
    rows = list(extensions.db_session().scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "items": _shown(rows),
            "next_after": rows[-1].id if more and rows else None,
        }
    )
