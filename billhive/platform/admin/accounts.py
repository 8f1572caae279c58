"""Admin accounts: create, check and replace a password, end every session of an admin.

Passwords are hashed with argon2id (argon2-cffi's defaults). Two-factor login (TOTP) is in
:mod:`billhive.platform.admin.totp`.
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.platform.admin.models import AdminUser

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
    """Replace an admin's password and end every session of the admin (commits)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AdminAccountError(
            f"The password must be at least {PASSWORD_MIN_LENGTH} characters long."
        )
    admin.password_hash = _hasher.hash(password)
    end_all_sessions(session, admin)


def end_all_sessions(session: Session, admin: AdminUser) -> None:
    """End every session of ``admin``, wherever it is (commits).

    Sessions are signed cookies held by browsers, so they cannot be deleted; instead every
    session id carries the admin's session epoch (``AdminUser.get_id``), and raising the
    epoch in the database makes every id issued before invalid. The increment is done by
    the database, so two concurrent calls cannot both write the same new epoch.
    """
    session.execute(
        update(AdminUser)
        .where(AdminUser.id == admin.id)
        .values(session_epoch=AdminUser.session_epoch + 1)
    )
    session.commit()
    session.refresh(admin)
