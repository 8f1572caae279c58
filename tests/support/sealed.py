"""Test helpers for sealed data: call payloads written and read the one way the code does
(workers/payloads.py); tenants with a data key come from support/factories.py."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billhive.tenants.vault import Vault
from billhive.workers import payloads
from billhive.workers.models import Call
from billhive.workers.payloads import Payload


def store_payload(
    session: Session,
    vault: Vault,
    call: Call,
    *,
    params: dict[str, Any] | None = None,
    body: Any = None,
    result: Any = None,
) -> None:
    """Seal payloads onto a call row (flushed first for its id; not committed)."""
    session.flush()
    key = payloads.key_for(session, vault, call.tenant_id)
    assert key is not None, f"tenant {call.tenant_id} has no data key"
    payloads.seal_request(key, call, params, body)
    payloads.seal_result(key, call, result)


def payload_of(session: Session, vault: Vault, call: Call) -> Payload:
    """A call's payloads as the readers open them."""
    return payloads.read_call(session, vault, call)
