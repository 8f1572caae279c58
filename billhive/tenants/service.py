"""What can happen to a tenant: sign up, reconnect, delete, and opening its credentials.

Every function here takes the session and commits its own work, so a job the caller
enqueues afterwards (verification) always finds the row. Plaintext credentials pass
through these functions but are never stored, logged or put into an error message.

Only credentials Billbee accepted may claim a username (``Tenant.username_index``, unique)
or replace a stored password. A signup Billbee could not be asked about waits as its own
tenant with ``pending_username_index`` (claiming nothing); a reconnect Billbee could not be
asked about waits in ``TenantCredentials.pending_password_sealed``. The verification job
settles both later; a verified signup of the same username supersedes (deletes) the
waiting ones. Billbee is asked before any lookup of the username, so a taken username
answers exactly like a free one until the credentials are proven.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.audit import ACTOR_MERCHANT, ACTOR_SYSTEM, record, set_status
from billhive.tenants.contact import erase_contact, seal_contact_email
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
from billhive.tenants.lifecycle import RECONNECTABLE, may_reconnect
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.rules import (
    Problem,
    clean_username,
    password_problems,
    username_problems,
)
from billhive.tenants.vault import (
    FIELD_PENDING_PASSWORD,
    FIELD_USERNAME,
    SESSION_KEYS,
    Credentials,
    SealedCredentials,
    Vault,
)
from billhive.tenants.verify import Outcome, Verdict, Verifier, check, make_verifier

__all__ = [
    "ApiAccessNotEnabled",
    "Credentials",
    "CredentialsRefused",
    "DuplicateUsername",
    "LinkSpent",
    "PendingCheck",
    "Reconnection",
    "RulesViolated",
    "SignupRequest",
    "TenantError",
    "TenantNotFound",
    "TenantStateError",
    "VaultError",
    "Verifier",
    "claim_username",
    "delete_tenant",
    "get_tenant",
    "issue_reconnect_link",
    "make_verifier",
    "open_credentials",
    "pending_check",
    "reconnect",
    "record_verdict",
    "set_status",
    "sign_up",
]

DISPLAY_NAME_MAX = 200
EMAIL_MAX = 254


#: Why a waiting signup was deleted (audit reason; no personal data).
SUPERSEDED_BY_SIGNUP = (
    "a verified signup for the same Billbee username replaced this unverified one"
)
SUPERSEDED_BY_TENANT = "the Billbee username is connected to another tenant already"


class LinkSpent(TenantStateError):
    """The reconnect link was used already, or a newer link replaced it."""

    def __init__(self, tenant_id: int) -> None:
        super().__init__(f"The reconnect link of tenant {tenant_id} is no longer valid.")


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


def _retire(session: Session, tenant: Tenant, *, actor: str, reason: str) -> None:
    """Delete a tenant that never held a verified claim (its credentials shredded)."""
    row = session.get(TenantCredentials, tenant.id)
    if row is not None:
        session.delete(row)
    tenant.pending_username_index = None
    erase_contact(tenant)
    set_status(
        session, tenant, TenantStatus.DELETED, actor=actor, action="superseded", reason=reason
    )


def _supersede_waiting(session: Session, index: str, winner_id: int, actor: str) -> None:
    """Delete the unverified signups of the username a verified tenant just claimed."""
    waiting = session.scalars(
        select(Tenant).where(
            Tenant.pending_username_index == index,
            Tenant.id != winner_id,
            Tenant.status != TenantStatus.DELETED,
        )
    ).all()
    for tenant in waiting:
        _retire(session, tenant, actor=actor, reason=SUPERSEDED_BY_SIGNUP)


def claim_username(session: Session, tenant: Tenant, *, actor: str) -> bool:
    """Give a tenant whose credentials Billbee just accepted the claim on its username
    (not committed); waiting signups of the same username are superseded.

    Returns False, and deletes the tenant as superseded, when another tenant holds the
    username already. A concurrent claim of the same username fails at the unique index
    with IntegrityError when flushed; the caller rolls back and asks again.
    """
    index = tenant.pending_username_index
    if tenant.username_index is not None or index is None:
        return True
    if _username_taken(session, index):
        _retire(session, tenant, actor=actor, reason=SUPERSEDED_BY_TENANT)
        return False
    tenant.username_index, tenant.pending_username_index = index, None
    session.flush()
    _supersede_waiting(session, index, tenant.id, actor)
    return True


def sign_up(
    session: Session,
    vault: Vault,
    request: SignupRequest,
    *,
    verify: Verifier,
    actor: str = ACTOR_MERCHANT,
) -> Tenant:
    """Check the rules, verify with Billbee, then refuse duplicates and store the tenant.

    Returns the committed tenant: ``active`` (claiming its username) when Billbee accepted
    the credentials, ``pending_verification`` when Billbee could not be asked (claiming
    nothing; the caller enqueues
    :func:`billhive.workers.verification.enqueue_verification`). Raises
    :class:`RulesViolated`, :class:`CredentialsRefused`, :class:`ApiAccessNotEnabled` or
    :class:`TenantError` (whether or not the username is taken), and
    :class:`DuplicateUsername` only for credentials Billbee accepted; nothing is stored
    then.
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
    # Billbee first, before the username is looked up: a taken username must cost the same
    # time and get the same answer as a free one, unless the credentials are proven.
    # (No database transaction is open across the Billbee call.)
    verdict = check(verify, username, request.password)
    _refuse(verdict)
    accepted = verdict.outcome is Outcome.ACCEPTED
    if accepted and _username_taken(session, index):
        session.rollback()
        raise DuplicateUsername
    now = utcnow()
    tenant = Tenant(
        display_name=request.display_name.strip(),
        username_index=index if accepted else None,
        pending_username_index=None if accepted else index,
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
        credentials = TenantCredentials(tenant_id=tenant.id, **sealed._asdict(), updated_at=now)
        session.add(credentials)
        seal_contact_email(vault, tenant, credentials, request.contact_email.strip())
        record(
            session,
            tenant.id,
            actor=actor,
            action="signed_up",
            to_status=tenant.status,
            reason="credentials verified" if accepted else verdict.note,
        )
        if accepted:
            _supersede_waiting(session, index, tenant.id, actor)
        session.commit()
    except IntegrityError:
        # Another verified signup with the same username won the race for the unique index.
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


@dataclass(frozen=True)
class Reconnection:
    """What a reconnect did: ``verified`` False means the new password waits for Billbee."""

    tenant: Tenant
    verified: bool


def issue_reconnect_link(session: Session, tenant_id: int) -> int:
    """Number a new reconnect link of a tenant (commits): every older link stops working.

    Raises :class:`TenantNotFound`, or :class:`TenantStateError` for a tenant that cannot
    reconnect (deleted, disabled).
    """
    tenant = get_tenant(session, tenant_id)
    if not may_reconnect(tenant.status):
        raise TenantStateError(f"Tenant {tenant_id} is {tenant.status.value} and cannot reconnect.")
    session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id)
        .values(reconnect_link_serial=Tenant.reconnect_link_serial + 1)
    )
    session.commit()
    session.refresh(tenant)
    return tenant.reconnect_link_serial


def _spend_link(session: Session, tenant_id: int, serial: int) -> None:
    """Use up reconnect link ``serial`` (not committed); :class:`LinkSpent` when it was used
    or replaced meanwhile. One conditional UPDATE: of two requests with one link, one wins."""
    spent = session.execute(
        update(Tenant)
        .where(Tenant.id == tenant_id, Tenant.reconnect_link_serial == serial)
        .values(reconnect_link_serial=serial + 1)
        .execution_options(synchronize_session=False)
    )
    if spent.rowcount != 1:  # type: ignore[attr-defined]
        session.rollback()
        raise LinkSpent(tenant_id)


def reconnect(
    session: Session,
    vault: Vault,
    tenant_id: int,
    new_password: str,
    *,
    verify: Verifier,
    actor: str = ACTOR_MERCHANT,
    invoice_creation_allowed: bool | None = None,
    link_serial: int | None = None,
) -> Reconnection:
    """Replace a tenant's API password once Billbee accepted it.

    Accepted -> the password is replaced and the tenant is ``active`` (or stays
    ``paused``: an operator's pause outlives a reconnect). Billbee unreachable -> the new
    password waits in the tenant's pending field and the stored one stays in use; the
    caller enqueues verification. A refusal raises like :func:`sign_up` and changes
    nothing. ``link_serial``: the reconnect link used, spent by an accepted or waiting
    password (:class:`LinkSpent` if it was spent or replaced meanwhile).
    ``invoice_creation_allowed`` (when given) is the merchant's word on invoice creation
    via the API: it is recorded, clears a refusal Billbee reported, and goes to the audit
    log when it changes anything.
    """
    tenant = get_tenant(session, tenant_id)
    if not may_reconnect(tenant.status):
        raise TenantStateError(f"Tenant {tenant_id} is {tenant.status.value} and cannot reconnect.")
    problems = password_problems(new_password)
    if problems:
        raise RulesViolated(problems)
    username = open_credentials(session, vault, tenant_id).username
    session.commit()
    verdict = check(verify, username, new_password)
    _refuse(verdict)
    accepted = verdict.outcome is Outcome.ACCEPTED
    if link_serial is not None:
        _spend_link(session, tenant_id, link_serial)
    session.refresh(tenant)
    if not may_reconnect(tenant.status):  # deleted or disabled during the Billbee call
        session.rollback()
        raise TenantStateError(f"Tenant {tenant_id} is {tenant.status.value} and cannot reconnect.")
    if invoice_creation_allowed is not None:
        _confirm_invoice_permission(session, tenant, invoice_creation_allowed, actor=actor)
    row = _sealed_row(session, tenant_id)
    if not accepted:
        row.pending_password_sealed = vault.seal_field(
            tenant_id, FIELD_PENDING_PASSWORD, row.kek_id, row.wrapped_key, new_password
        )
        tenant.last_error = verdict.note
        record(session, tenant.id, actor=actor, action="reconnect_pending", reason=verdict.note)
        session.commit()
        return Reconnection(tenant, verified=False)
    row.password_sealed = vault.reseal_password(
        tenant_id, row.kek_id, row.wrapped_key, new_password
    )
    row.pending_password_sealed = None  # a proven password supersedes one still waiting
    row.updated_at = utcnow()
    tenant.last_error = None
    tenant.verified_at = utcnow()
    if not claim_username(session, tenant, actor=actor):
        session.commit()
        raise TenantStateError(f"Tenant {tenant_id} was superseded and cannot reconnect.")
    _settle_verified(session, tenant, actor=actor, action="reconnected")
    session.commit()
    return Reconnection(tenant, verified=True)


def _settle_verified(session: Session, tenant: Tenant, *, actor: str, action: str) -> None:
    """Record that a tenant's credentials were just proven: ``active``, unless an operator
    paused it, which it stays (not committed)."""
    target = TenantStatus.PAUSED if tenant.status == TenantStatus.PAUSED else TenantStatus.ACTIVE
    if tenant.status == target:
        record(session, tenant.id, actor=actor, action=action, reason="credentials verified")
    else:
        set_status(
            session, tenant, target, actor=actor, action=action, reason="credentials verified"
        )


# -- the verification job's questions and answers ---------------------------------------


@dataclass(frozen=True)
class PendingCheck:
    """Credentials the verification job asks Billbee about: a reconnect's waiting password
    (``pending_sealed`` is its ciphertext) or, when that is None, the stored ones."""

    credentials: Credentials
    pending_sealed: bytes | None

    def __repr__(self) -> str:
        return f"PendingCheck(waiting_password={self.pending_sealed is not None})"


#: Statuses in which a waiting reconnect password is still worth verifying.
_SETTLES_PENDING_PASSWORD = RECONNECTABLE


def pending_check(session: Session, vault: Vault, tenant_id: int) -> PendingCheck | str | None:
    """What the verification job should verify for a tenant: a waiting reconnect password
    first, else the stored credentials of a tenant ``pending_verification``. Returns the
    tenant's status when there is nothing to verify, None when the tenant is gone."""
    tenant = session.get(Tenant, tenant_id)
    if tenant is None:
        return None
    row = session.get(TenantCredentials, tenant_id)
    if (
        row is not None
        and row.pending_password_sealed
        and tenant.status in _SETTLES_PENDING_PASSWORD
    ):
        username = vault.open_field(
            tenant_id, FIELD_USERNAME, row.kek_id, row.wrapped_key, row.username_sealed
        )
        password = vault.open_field(
            tenant_id,
            FIELD_PENDING_PASSWORD,
            row.kek_id,
            row.wrapped_key,
            row.pending_password_sealed,
        )
        return PendingCheck(Credentials(username, password), row.pending_password_sealed)
    if tenant.status != TenantStatus.PENDING_VERIFICATION:
        return tenant.status.value
    return PendingCheck(open_credentials(session, vault, tenant_id), None)


def record_verdict(
    session: Session, vault: Vault, tenant_id: int, asked: PendingCheck, verdict: Verdict
) -> str:
    """Apply Billbee's definite verdict on ``asked`` (commits); returns the new status.

    A waiting reconnect password replaces the stored one once accepted (status ``active``,
    or ``paused`` kept) and is dropped once refused (status unchanged). Stored credentials
    of a pending tenant make it ``active`` (claiming its username, or ``deleted`` as
    superseded if a verified tenant holds it) or ``credentials_invalid``. Nothing changes
    when the question was overtaken meanwhile (a newer password, another status).
    """
    for attempt in range(2):
        try:
            status = _apply_verdict(session, vault, tenant_id, asked, verdict)
            session.commit()
            return status
        except IntegrityError:
            # A verified signup claimed the username at the same moment: ask again, the
            # claim then sees it and supersedes this tenant.
            session.rollback()
            if attempt:
                raise
    raise AssertionError("unreachable")


def _apply_verdict(
    session: Session, vault: Vault, tenant_id: int, asked: PendingCheck, verdict: Verdict
) -> str:
    tenant = get_tenant(session, tenant_id)
    accepted = verdict.outcome is Outcome.ACCEPTED
    if asked.pending_sealed is not None:
        row = session.get(TenantCredentials, tenant_id)
        if row is None or row.pending_password_sealed != asked.pending_sealed:
            return tenant.status.value
        row.pending_password_sealed = None
        if not accepted:
            tenant.last_error = f"The new API password was not accepted: {verdict.note}"
            record(
                session,
                tenant_id,
                actor=ACTOR_SYSTEM,
                action="reconnect_refused",
                reason=verdict.note,
            )
            return tenant.status.value
        row.password_sealed = vault.reseal_password(
            tenant_id, row.kek_id, row.wrapped_key, asked.credentials.password
        )
        row.updated_at = utcnow()
    elif tenant.status != TenantStatus.PENDING_VERIFICATION:
        return tenant.status.value
    tenant.last_error = None if accepted else verdict.note
    if not accepted:
        set_status(
            session,
            tenant,
            TenantStatus.CREDENTIALS_INVALID,
            actor=ACTOR_SYSTEM,
            action="verification_failed",
            reason=verdict.note,
        )
        return tenant.status.value
    tenant.verified_at = utcnow()
    if claim_username(session, tenant, actor=ACTOR_SYSTEM):
        action = "verified" if asked.pending_sealed is None else "reconnect_verified"
        _settle_verified(session, tenant, actor=ACTOR_SYSTEM, action=action)
    return tenant.status.value


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
    """Crypto-shred a tenant: its data key and sealed credentials are deleted (which makes
    its sealed contact e-mail and call payloads unreadable), its blind indexes cleared, its
    contact data erased (see ``tenants/contact.py``), its status set to ``deleted``. The
    audit history stays; ``reason`` must name no personal data. Idempotent.

    The call payloads themselves are purged by the workers (``workers/control.py``,
    ``purge_tenant``, and the retention job for any path that deleted a tenant)."""
    tenant = get_tenant(session, tenant_id)
    row = session.get(TenantCredentials, tenant_id)
    if row is not None:
        session.delete(row)
    session.info.get(SESSION_KEYS, {}).pop(tenant_id, None)
    tenant.username_index = None
    tenant.pending_username_index = None
    erase_contact(tenant)
    if tenant.status == TenantStatus.DELETED:
        session.commit()
        return
    set_status(session, tenant, TenantStatus.DELETED, actor=actor, action="deleted", reason=reason)
    session.commit()
