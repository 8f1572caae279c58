"""Turning rows into the API's JSON shapes (through the pydantic response models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.orm import Session

from billhive.platform.api.models import ApiToken, CallbackDelivery
from billhive.platform.api.schemas import CallbackOut, CallOut, DeliveryOut, TenantOut
from billhive.tenants.models import Tenant
from billhive.tenants.vault import Vault
from billhive.workers import payloads
from billhive.workers.models import Call, CallStatus
from billhive.workers.payloads import Payload

#: Statuses whose calls carry an error object.
_ERROR_STATUSES = frozenset({CallStatus.FAILED, CallStatus.UNKNOWN_OUTCOME})


def tenant_json(tenant: Tenant, contact_email: str) -> dict[str, Any]:
    """A tenant as the API shows it: no credential, no blind index; ``contact_email``
    opened by ``tenants/contact.py`` ("" once deleted)."""
    fields = {
        name: getattr(tenant, name) for name in TenantOut.model_fields if name != "contact_email"
    }
    return TenantOut.model_validate({**fields, "contact_email": contact_email}).model_dump(
        mode="json"
    )


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
