"""Admin accounts: create, check a password, TOTP enrolment and checks.

Passwords are hashed with argon2id (argon2-cffi's defaults); a TOTP code is accepted once
per time step, so a code seen over someone's shoulder cannot be replayed.
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass

import pyotp
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.platform.admin.models import AdminUser

#: The name authenticator apps show next to the code.
TOTP_ISSUER = "billhive"
#: Codes one step (30 s) either side of now are accepted: clocks drift.
TOTP_VALID_WINDOW = 1
#: Shortest admin password accepted by ``billhive admin create``.
PASSWORD_MIN_LENGTH = 12
DEV_ADMIN_EMAIL = "admin@localhost"

_hasher = PasswordHasher()
# A real hash to verify against when the e-mail is unknown, so a wrong e-mail costs as much
# time as a wrong password and answers cannot reveal which admins exist.
_DUMMY_HASH = _hasher.hash(secrets.token_urlsafe(16))


class AdminAccountError(ValueError):
    """An admin account cannot be created as asked (the message says why)."""


def normalize_email(email: str) -> str:
    """The form an admin's e-mail is stored and looked up in."""
    return email.strip().lower()


def find_admin(session: Session, email: str) -> AdminUser | None:
    """The admin with ``email`` (case-insensitive), or None."""
    return session.scalars(
        select(AdminUser).where(AdminUser.email == normalize_email(email))
    ).first()


def generate_password() -> str:
    """A random password for a new admin (printed once, never stored in plaintext)."""
    return secrets.token_urlsafe(18)


def create_admin(session: Session, email: str, password: str) -> AdminUser:
    """Store a new admin with an argon2 hash of ``password`` (commits)."""
    address = normalize_email(email)
    if "@" not in address or len(address) > 254:
        raise AdminAccountError(f"{email!r} is not an e-mail address.")
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AdminAccountError(
            f"The password must be at least {PASSWORD_MIN_LENGTH} characters long."
        )
    if find_admin(session, address) is not None:
        raise AdminAccountError(f"An admin with the e-mail {address} exists already.")
    admin = AdminUser(
        email=address,
        password_hash=_hasher.hash(password),
        totp_enabled=False,
        active=True,
        created_at=utcnow(),
    )
    session.add(admin)
    session.commit()
    return admin


def ensure_dev_admin(session: Session) -> tuple[str, str] | None:
    """Create ``admin@localhost`` with a random password when there is no admin at all.

    Returns (e-mail, password) once, for ``billhive dev`` to print; None when an admin
    exists already (its password is not known and stays so).
    """
    if session.scalar(select(func.count()).select_from(AdminUser)):
        return None
    password = generate_password()
    create_admin(session, DEV_ADMIN_EMAIL, password)
    return DEV_ADMIN_EMAIL, password


def check_password(session: Session, email: str, password: str) -> AdminUser | None:
    """The active admin whose e-mail and password these are, or None (constant effort)."""
    admin = find_admin(session, email)
    try:
        _hasher.verify(admin.password_hash if admin else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if admin is None or not admin.active:
        return None
    if _hasher.check_needs_rehash(admin.password_hash):
        admin.password_hash = _hasher.hash(password)
        session.commit()
    return admin


def set_password(session: Session, admin: AdminUser, password: str) -> None:
    """Replace an admin's password (commits)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AdminAccountError(
            f"The password must be at least {PASSWORD_MIN_LENGTH} characters long."
        )
    admin.password_hash = _hasher.hash(password)
    session.commit()


# -- TOTP ------------------------------------------------------------------------------


@dataclass(frozen=True)
class TotpEnrolment:
    """What the enrolment page shows: the secret and the otpauth:// URI for an app."""

    secret: str
    uri: str


def start_totp_enrolment(session: Session, admin: AdminUser) -> TotpEnrolment:
    """A secret for ``admin`` (kept until confirmed; a new one only if none is pending)."""
    if admin.totp_secret is None or admin.totp_enabled:
        if admin.totp_enabled:
            raise AdminAccountError("Two-factor login is already on for this account.")
        admin.totp_secret = pyotp.random_base32()
        session.commit()
    secret = admin.totp_secret
    assert secret is not None  # set just above
    uri = pyotp.TOTP(secret).provisioning_uri(name=admin.email, issuer_name=TOTP_ISSUER)
    return TotpEnrolment(secret=secret, uri=uri)


def _accepted_step(secret: str, code: str, now: float) -> int | None:
    totp = pyotp.TOTP(secret)
    cleaned = code.replace(" ", "").strip()
    if not cleaned.isdigit():
        return None
    step = int(now // totp.interval)
    for offset in range(-TOTP_VALID_WINDOW, TOTP_VALID_WINDOW + 1):
        at = now + offset * totp.interval
        if secrets.compare_digest(totp.at(int(at)), cleaned):
            return step + offset
    return None


def check_totp(session: Session, admin: AdminUser, code: str, *, now: float | None = None) -> bool:
    """True when ``code`` is the admin's current TOTP code, not used before (commits)."""
    if admin.totp_secret is None:
        return False
    step = _accepted_step(admin.totp_secret, code, time.time() if now is None else now)
    if step is None or (admin.totp_last_step is not None and step <= admin.totp_last_step):
        return False
    admin.totp_last_step = step
    session.commit()
    return True


def confirm_totp_enrolment(session: Session, admin: AdminUser, code: str) -> bool:
    """Turn two-factor login on once the admin typed a valid code from the new secret."""
    if admin.totp_enabled or not check_totp(session, admin, code):
        return False
    admin.totp_enabled = True
    session.commit()
    return True


def disable_totp(session: Session, admin: AdminUser) -> None:
    """Turn two-factor login off and forget the secret (commits)."""
    admin.totp_enabled = False
    admin.totp_secret = None
    admin.totp_last_step = None
    session.commit()
