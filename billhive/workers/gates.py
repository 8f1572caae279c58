"""What a tenant must have for a call to be queued, beyond being open: the invoice
permission for invoice-creating operations, and room in a hard monthly call budget.

The enqueue path (:mod:`billhive.workers.calls`) checks both inside the one
``INSERT ... SELECT`` that records a call (:func:`insert_conditions`), so the API's hot path
keeps its single statement; when that statement inserts nothing, :func:`refusal_reason`
says why, with the tenant's figures.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from enum import StrEnum

from sqlalchemy import Boolean, ColumnElement, Date, false, func, or_, select, true
from sqlalchemy.orm import Session
from sqlalchemy.sql import bindparam

from billhive.billbee.errors import ApiError, ErrorCode
from billhive.db import utcnow
from billhive.tenants.audit import ACTOR_SYSTEM, record
from billhive.tenants.models import Tenant
from billhive.workers.models import UsageDay

#: Operations Billbee carries out only when the merchant allowed invoice creation via the
#: API (Settings → Billbee API, tab "Rechnungserstellung"; off by default).
INVOICE_OPERATIONS = frozenset({"orders.create_invoice", "orders.create_delivery_note"})
#: The Billbee setting, named as the merchant sees it.
INVOICE_SETTING = 'Settings → Billbee API, tab "Rechnungserstellung" (invoice creation)'


class Refusal(StrEnum):
    """Why an open tenant's call is not queued."""

    INVOICE_PERMISSION = "invoice_permission"
    BUDGET = "budget"


def month_start(today: date | None = None) -> date:
    """The first day of the (UTC) month of ``today``."""
    return (today or utcnow().date()).replace(day=1)


def calls_this_month(session: Session, tenant_id: int, first: date) -> int:
    """Billbee calls made for the tenant since ``first`` (its ``usage_days``)."""
    total = session.scalar(
        select(func.coalesce(func.sum(UsageDay.calls), 0)).where(
            UsageDay.tenant_id == tenant_id, UsageDay.day >= first
        )
    )
    return int(total or 0)


def insert_conditions() -> list[ColumnElement[bool]]:
    """Conditions on the ``tenants`` row for the enqueue's ``INSERT ... SELECT``.

    Bind parameters: ``needs_invoice_permission`` (the call creates an invoice or a
    delivery note) and ``month_start``. The budget's sum is only read for tenants with a
    hard budget (the OR stops at the first true term).
    """
    used = (
        select(func.coalesce(func.sum(UsageDay.calls), 0))
        .where(
            UsageDay.tenant_id == Tenant.id,
            UsageDay.day >= bindparam("month_start", type_=Date),
        )
        .scalar_subquery()
    )
    return [
        or_(
            bindparam("needs_invoice_permission", type_=Boolean) == false(),
            Tenant.invoice_creation_allowed == true(),
        ),
        or_(
            Tenant.budget_hard == false(),
            Tenant.monthly_call_budget.is_(None),
            Tenant.monthly_call_budget > used,
        ),
    ]


@dataclass(frozen=True)
class Reason:
    """Why an open tenant's call is refused, with the figures for the message."""

    refusal: Refusal
    message: str


def refusal_reason(
    session: Session, tenant: Tenant, *, needs_invoice_permission: bool
) -> Reason | None:
    """Why an open tenant takes no call of this kind now, or None when it does."""
    if needs_invoice_permission and not tenant.invoice_creation_allowed:
        refused = (
            f" Billbee refused one on {tenant.invoice_refused_at:%Y-%m-%d %H:%M} UTC."
            if tenant.invoice_refused_at
            else ""
        )
        return Reason(
            Refusal.INVOICE_PERMISSION,
            f"Invoice creation via the API is not allowed for tenant {tenant.id}: the merchant "
            f"has to allow it in Billbee ({INVOICE_SETTING}) and confirm it on billhive's "
            f"reconnect page.{refused}",
        )
    if tenant.budget_hard and tenant.monthly_call_budget is not None:
        first = month_start()
        used = calls_this_month(session, tenant.id, first)
        if used >= tenant.monthly_call_budget:
            return Reason(
                Refusal.BUDGET,
                f"Tenant {tenant.id} used {used:,} of its hard budget of "
                f"{tenant.monthly_call_budget:,} Billbee calls in {first:%Y-%m}; new calls are "
                "refused until the month ends or an operator raises the budget.",
            )
    return None


#: The ErrorCodes with which Billbee refuses an invoice or a delivery note; with invoice
#: creation switched off these are what it answers (the sandbox does the same).
INVOICE_REFUSALS = frozenset({ErrorCode.CantCreateInvoice, ErrorCode.CantCreateDeliveryNote})


def note_billbee_refusal(
    session: Session, tenant: Tenant, operation: str, error: BaseException | None
) -> bool:
    """Record that Billbee refused an invoice-creating call of a tenant billhive believed
    allowed it: the permission is set off (later ones are refused at enqueue), the moment
    kept for the operator, the audit log told. Not committed (the call's outcome commits it).

    Billbee does not publish a distinct code for "invoice creation is switched off";
    CantCreateInvoice / CantCreateDeliveryNote is what it answers then, so the merchant
    confirms the permission again on the reconnect page if the refusal had another cause.
    Returns True when it recorded a refusal.
    """
    if operation not in INVOICE_OPERATIONS or not isinstance(error, ApiError):
        return False
    if error.error_code not in INVOICE_REFUSALS or not tenant.invoice_creation_allowed:
        return False
    tenant.invoice_creation_allowed = False
    tenant.invoice_refused_at = utcnow()
    record(
        session,
        tenant.id,
        actor=ACTOR_SYSTEM,
        action="invoice_permission_refused",
        reason=f"Billbee refused {operation} ({error.error_name}); invoice creation is "
        "recorded as not allowed until the merchant confirms it again",
        details={"operation": operation, "error_code": error.error_code},
    )
    return True
