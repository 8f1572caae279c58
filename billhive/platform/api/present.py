"""Turning rows into the API's JSON shapes (through the pydantic response models)."""

from __future__ import annotations

from typing import Any

from billhive.platform.api.models import ApiToken, CallbackDelivery
from billhive.platform.api.schemas import CallbackOut, CallOut, DeliveryOut, TenantOut
from billhive.tenants.models import Tenant
from billhive.workers.models import Call, CallStatus

#: Statuses whose calls carry an error object.
_ERROR_STATUSES = frozenset({CallStatus.FAILED, CallStatus.UNKNOWN_OUTCOME})


def tenant_json(tenant: Tenant) -> dict[str, Any]:
    """A tenant as the API shows it: no credential, no blind index."""
    return TenantOut.model_validate(tenant).model_dump(mode="json")


def call_json(call: Call) -> dict[str, Any]:
    """A call with its status, timings and result or error."""
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
        "params": call.params or {},
        "status": call.status.value,
        "attempts": call.attempts or 0,
        "priority": call.lane.value,
        "ordering_key": call.ordering_key,
        "enqueued_at": call.enqueued_at,
        "started_at": call.started_at,
        "finished_at": call.finished_at,
        "result": call.result,
        "result_truncated": bool(call.result_truncated),
        "error": error,
    }
    return CallOut.model_validate(data).model_dump(mode="json")


def callback_json(token: ApiToken, signing_secret: str | None = None) -> dict[str, Any]:
    """The token's registered callback (the secret only when just registered)."""
    data = {
        "url": token.callback_url,
        "registered_at": token.callback_registered_at,
        "signing_secret": signing_secret,
    }
    return CallbackOut.model_validate(data).model_dump(mode="json")


def delivery_json(delivery: CallbackDelivery) -> dict[str, Any]:
    """One row of the delivery log."""
    return DeliveryOut.model_validate(delivery).model_dump(mode="json")
