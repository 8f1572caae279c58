"""A call as it is told to the vendor, in API answers and callbacks alike.

The pydantic models shape the JSON and (through the API's schemas module) fill the
OpenAPI document, so an answer of ``GET /calls/{id}`` and a ``call.finished`` callback
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from billhive.tenants.vault import Vault
from billhive.workers import payloads
from billhive.workers.models import Call, CallStatus
from billhive.workers.payloads import Payload

#: Statuses whose calls carry an error object.
_ERROR_STATUSES = frozenset({CallStatus.FAILED, CallStatus.UNKNOWN_OUTCOME})


class _Response(BaseModel):
    # Every response field is always present, so the document marks them all required.
    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class CallError(_Response):
    """Why a call failed."""

    http_status: int | None
    code: int | None = Field(description="Billbee's ErrorCode, when it sent one.")
    name: str | None
    message: str | None


class CallOut(_Response):
    """A call: what was asked, where it is, and its outcome."""

    id: int
    tenant_id: int
    operation: str
    params: dict[str, Any]
    status: str = Field(
        description="queued, running, succeeded, failed, unknown_outcome or cancelled."
    )
    attempts: int
    priority: str = Field(description="The call's lane: interactive, bulk or background.")
    ordering_key: str | None = Field(
        description="The key the call is ordered by (given, or derived: `sku:<SKU>` for "
        "stock); null: the whole tenant."
    )
    batch_job_id: str | None = Field(
        description="The job whose bulk call carried this call (`call-<id>` of the first "
        "call of the batch: updatestockmultiple, stockmultiple, orders/tags, createmultiple, "
        "shipmentmultiple); null: it went out alone (or has not gone out)."
    )
    enqueued_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    result: Any = None
    result_truncated: bool
    payload: str = Field(
        description="available: params and result are shown; purged: they were deleted "
        "(BILLHIVE_PAYLOAD_RETENTION_DAYS after the call finished, or the tenant was "
        "deleted or left) and show as empty; unreadable: they did not open."
    )
    error: CallError | None


def calls_json(session: Session, vault: Vault, calls: Sequence[Call]) -> list[dict[str, Any]]:
    """Calls as :func:`call_json` shows them, their payloads opened (one key lookup per
    tenant)."""
    keys = payloads.keys_for(session, vault, {call.tenant_id for call in calls})
    return [call_json(call, payloads.open_call(keys.get(call.tenant_id), call)) for call in calls]


def call_json(call: Call, payload: Payload) -> dict[str, Any]:
    """A call with its status, timings and result or error; ``payload`` holds its opened
    parameters and result (shown empty, and said so, once purged)."""
    error = None
    if call.status in _ERROR_STATUSES or call.error_name or call.error_code:
        error = {
            "http_status": call.http_status,
            "code": call.error_code,
            "name": call.error_name,
            "message": call.error,
        }
    data = {
        "id": call.id,
        "tenant_id": call.tenant_id,
        "operation": call.operation,
        "params": payload.params,
        "status": call.status.value,
        "attempts": call.attempts or 0,
        "priority": call.lane.value,
        "ordering_key": call.ordering_key,
        "batch_job_id": call.batch_job_id,
        "enqueued_at": call.enqueued_at,
        "started_at": call.started_at,
        "finished_at": call.finished_at,
        "result": payload.result,
        "result_truncated": bool(call.result_truncated),
        "payload": "purged"
        if payload.purged
        else "unreadable"
        if payload.unreadable
        else "available",
        "error": error,
    }
    return CallOut.model_validate(data).model_dump(mode="json")
