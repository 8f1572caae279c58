"""What can happen to a tenant: sign up, reconnect, delete, and opening its credentials.

Every function here takes the session and commits its own work, so a job the caller
enqueues afterwards (verification) always finds the row. Plaintext credentials pass
through these functions but are never stored, logged or put into an error message.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.audit import ACTOR_MERCHANT, record, set_status
from billhive.tenants.errors import (
    ApiAccessNotEnabled,
    CredentialsRefused,
    DuplicateUsername,
    RulesViolated,
    TenantError,
    TenantNotFound,
    TenantStateError,
    VaultError,
)
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.rules import (
    Problem,
    clean_username,
    password_problems,
    username_problems,
)
from billhive.tenants.vault import Credentials, SealedCredentials, Vault
from billhive.tenants.verify import Outcome, Verdict, Verifier, check, make_verifier

__all__ = [
    "ApiAccessNotEnabled",
    "Credentials",
    "CredentialsRefused",
    "DuplicateUsername",
    "RulesViolated",
    "SignupRequest",
    "TenantError",
    "TenantNotFound",
    "TenantStateError",
    "VaultError",
    "Verifier",
    "delete_tenant",
    "get_tenant",
    "make_verifier",
    "open_credentials",
    "reconnect",
    "set_status",
    "sign_up",
]

DISPLAY_NAME_MAX = 200
EMAIL_MAX = 254
#: Statuses from which a merchant may enter a new API password.
RECONNECTABLE = frozenset(
    {
        TenantStatus.CREDENTIALS_INVALID,
        TenantStatus.PENDING_VERIFICATION,
        TenantStatus.ACTIVE,
        TenantStatus.PAUSED,
    }
)


@dataclass(frozen=True)
class SignupRequest:
    """What a merchant enters on /signup. ``repr`` hides username and password."""

    display_name: str
    contact_email: str
    username: str = field(repr=False)
    password: str = field(repr=False)
    invoice_creation_allowed: bool = False


def _profile_problems(request: SignupRequest) -> list[Problem]:
    problems: list[Problem] = []
    name = request.display_name.strip()
    if not name:
        problems.append(Problem("display_name", "empty", "Enter a display name."))
    elif len(name) > DISPLAY_NAME_MAX:
        problems.append(
            Problem(
                "display_name",
                "too_long",
                f"The display name must be at most {DISPLAY_NAME_MAX} characters long.",
            )
        )
    email = request.contact_email.strip()
    if not email or "@" not in email:
        problems.append(Problem("contact_email", "invalid", "Enter a valid e-mail address."))
    elif len(email) > EMAIL_MAX:
        problems.append(
            Problem(
                "contact_email",
                "too_long",
                f"The e-mail address must be at most {EMAIL_MAX} characters long.",
            )
        )
    return problems


def _refuse(verdict: Verdict) -> None:
    """Raise the merchant-facing error of a definite refusal; return for the others."""
    if verdict.outcome is Outcome.REJECTED:
        raise CredentialsRefused
    if verdict.outcome is Outcome.API_ACCESS_OFF:
        raise ApiAccessNotEnabled
    if verdict.outcome is Outcome.ACCOUNT_REFUSED:
        raise TenantError(verdict.note)


def _username_taken(session: Session, index: str) -> bool:
    found = session.execute(select(Tenant.id).where(Tenant.username_index == index)).first()
    return found is not None


def sign_up(
    session: Session,
    vault: Vault,
    request: SignupRequest,
    *,
    verify: Verifier,
    actor: str = ACTOR_MERCHANT,
) -> Tenant:
    """Check the rules, refuse duplicates, verify with Billbee, store the sealed tenant.

    Returns the committed tenant: ``active`` when Billbee accepted the credentials,
    ``pending_verification`` when Billbee could not be asked (the caller enqueues
    :func:`billhive.workers.verification.enqueue_verification`). Raises
    :class:`RulesViolated`, :class:`DuplicateUsername`, :class:`CredentialsRefused`,
    :class:`ApiAccessNotEnabled` or :class:`TenantError`; nothing is stored then.
    """
    problems = (
        _profile_problems(request)
        + username_problems(request.username)
        + password_problems(request.password)
    )
    if problems:
        raise RulesViolated(problems)
    username = clean_username(request.username)
    index = vault.blind_index(username)
    if _username_taken(session, index):
        raise DuplicateUsername
    # End the read transaction: no database transaction stays open across the Billbee call.
    session.commit()
    verdict = check(verify, username, request.password)
    _refuse(verdict)
    accepted = verdict.outcome is Outcome.ACCEPTED
    now = utcnow()
    tenant = Tenant(
        display_name=request.display_name.strip(),
        contact_email=request.contact_email.strip(),
        username_index=index,
        status=TenantStatus.ACTIVE if accepted else TenantStatus.PENDING_VERIFICATION,
        invoice_creation_allowed=request.invoice_creation_allowed,
        verified_at=now if accepted else None,
        last_error=None if accepted else verdict.note,
        created_at=now,
        updated_at=now,
    )
    session.add(tenant)
    try:
        session.flush()  # assigns the id the sealed fields are bound to
        sealed = vault.seal(tenant.id, username, request.password)
        session.add(TenantCredentials(tenant_id=tenant.id, **sealed._asdict(), updated_at=now))
        record(
            session,
            tenant.id,
            actor=actor,
            action="signed_up",
            to_status=tenant.status,
            reason="credentials verified" if accepted else verdict.note,
        )
        session.commit()
    except IntegrityError:
        # Another signup with the same username won the race for the unique index.
        session.rollback()
        raise DuplicateUsername from None
    return tenant


def get_tenant(session: Session, tenant_id: int) -> Tenant:
    """The tenant with ``tenant_id`` or :class:`TenantNotFound`."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        raise TenantNotFound(tenant_id)
    return tenant


def _sealed_row(session: Session, tenant_id: int) -> TenantCredentials:
    row = session.get(TenantCredentials, tenant_id)
    if row is None:
        raise TenantStateError(f"Tenant {tenant_id} has no stored credentials.")
    return row


def open_credentials(session: Session, vault: Vault, tenant_id: int) -> Credentials:
    """The tenant's plaintext username and password: only for the job or request that
    calls Billbee with them, never to be stored, logged or enqueued."""
    row = _sealed_row(session, tenant_id)
    return vault.open(
        tenant_id,
        SealedCredentials(row.kek_id, row.wrapped_key, row.username_sealed, row.password_sealed),
    )


def reconnect(
    session: Session,
    vault: Vault,
    tenant_id: int,
    new_password: str,
    *,
    verify: Verifier,
    actor: str = ACTOR_MERCHANT,
    invoice_creation_allowed: bool | None = None,
) -> Tenant:
    """Replace a tenant's API password after verifying it with Billbee.

    Accepted -> ``active``; Billbee unreachable -> the new password is stored and the
    tenant is ``pending_verification`` (the caller enqueues verification); a refusal
    raises like :func:`sign_up` and changes nothing. ``invoice_creation_allowed`` (when
    given) is the merchant's word on invoice creation via the API: it is recorded, clears
    a refusal Billbee reported, and goes to the audit log when it changes anything.
    """
    tenant = get_tenant(session, tenant_id)
    if tenant.status not in RECONNECTABLE:
        raise TenantStateError(f"Tenant {tenant_id} is {tenant.status.value} and cannot reconnect.")
    problems = password_problems(new_password)
    if problems:
        raise RulesViolated(problems)
    username = open_credentials(session, vault, tenant_id).username
    session.commit()
    verdict = check(verify, username, new_password)
    _refuse(verdict)
    accepted = verdict.outcome is Outcome.ACCEPTED
    row = _sealed_row(session, tenant_id)
    row.password_sealed = vault.reseal_password(
        tenant_id, row.kek_id, row.wrapped_key, new_password
    )
    row.updated_at = utcnow()
    tenant.last_error = None if accepted else verdict.note
    if accepted:
        tenant.verified_at = utcnow()
    if invoice_creation_allowed is not None:
        _confirm_invoice_permission(session, tenant, invoice_creation_allowed, actor=actor)
    target = TenantStatus.ACTIVE if accepted else TenantStatus.PENDING_VERIFICATION
    if tenant.status == target:
        record(session, tenant.id, actor=actor, action="reconnected", reason=verdict.note)
    else:
        set_status(
            session,
            tenant,
            target,
            actor=actor,
            action="reconnected",
            reason="credentials verified" if accepted else verdict.note,
        )
    session.commit()
    return tenant


def _confirm_invoice_permission(
    session: Session, tenant: Tenant, allowed: bool, *, actor: str
) -> None:
    """Record the merchant's word on invoice creation (not committed)."""
    if allowed == tenant.invoice_creation_allowed and tenant.invoice_refused_at is None:
        return
    refused_at = tenant.invoice_refused_at
    tenant.invoice_creation_allowed = allowed
    tenant.invoice_refused_at = None
    record(
        session,
        tenant.id,
        actor=actor,
        action="invoice_permission_confirmed" if allowed else "invoice_permission_withdrawn",
        reason="invoice creation via the API "
        + ("allowed" if allowed else "not allowed")
        + (" (Billbee had refused an invoice)" if refused_at else ""),
    )


def delete_tenant(session: Session, tenant_id: int, *, actor: str, reason: str) -> None:
    """Crypto-shred a tenant: its data key and sealed credentials are deleted, its blind
    index cleared, its status set to ``deleted``. The audit history stays. Idempotent."""
    tenant = get_tenant(session, tenant_id)
    row = session.get(TenantCredentials, tenant_id)
    if row is not None:
        session.delete(row)
    tenant.username_index = None
    if tenant.status == TenantStatus.DELETED:
        session.commit()
        return
    set_status(session, tenant, TenantStatus.DELETED, actor=actor, action="deleted", reason=reason)
    session.commit()
