"""The audit log of tenant changes: every status change goes through :func:`set_status`."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import AuditEvent, Tenant, TenantStatus

#: Actors that may appear in the log besides ``admin:<id>``.
ACTOR_MERCHANT = "merchant"
ACTOR_SYSTEM = "system"
ACTOR_CLI = "cli"


def record(
    session: Session,
    tenant_id: int | None,
    *,
    actor: str,
    action: str,
    reason: str = "",
    from_status: TenantStatus | None = None,
    to_status: TenantStatus | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Add one audit row (not committed). ``details`` must never hold a secret."""
    event = AuditEvent(
        tenant_id=tenant_id,
        actor=actor,
        action=action,
        reason=reason,
        from_status=from_status.value if from_status else None,
        to_status=to_status.value if to_status else None,
        details=details or {},
        created_at=utcnow(),
    )
    session.add(event)
    return event


def set_status(
    session: Session,
    tenant: Tenant,
    to_status: TenantStatus,
    *,
    actor: str,
    reason: str,
    action: str = "status_changed",
    details: dict[str, Any] | None = None,
) -> None:
    """Move ``tenant`` to ``to_status`` and log who, from, to and why (not committed).

    Writes nothing when the status does not change.
    """
    from_status = tenant.status
    if from_status == to_status:
        return
    tenant.status = to_status
    tenant.updated_at = utcnow()
    record(
        session,
        tenant.id,
        actor=actor,
        action=action,
        reason=reason,
        from_status=from_status,
        to_status=to_status,
        details=details,
    )
