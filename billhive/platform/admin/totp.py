"""Two-factor login with TOTP codes (pyotp): enrolment, checks, switching it off.

* The secret is sealed by the vault (``Vault.seal_secret``, purpose ``admin-totp``, the
  admin's id and the key id as associated data), like merchants' credentials: a
  database dump shows no secret. ``billhive vault rotate`` re-seals it under a new key.
* A code is accepted once: the step it belongs to is written by one conditional UPDATE
  (``totp_last_step < step``), so two requests racing with the same code cannot both
  win, whichever process they reach.
* Turning it on or off ends every session of the admin but the one that did it.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass

import pyotp
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from billhive.platform.admin.accounts import AdminAccountError, end_all_sessions
from billhive.platform.admin.models import TOTP_PURPOSE, AdminUser
from billhive.tenants.vault import Vault

#: The name authenticator apps show next to the code.
TOTP_ISSUER = "billhive"
#: Codes one step (30 s) either side of now are accepted: clocks drift.
TOTP_VALID_WINDOW = 1


@dataclass(frozen=True)
class TotpEnrolment:
    """What the enrolment page shows: the secret and the otpauth:// URI for an app."""

    secret: str
    uri: str

    def __repr__(self) -> str:
        return "TotpEnrolment(secret=[hidden])"


def _store(vault: Vault, admin: AdminUser, secret: str | None) -> None:
    if secret is None:
        admin.totp_kek_id, admin.totp_secret_sealed = None, None
    else:
        admin.totp_kek_id, admin.totp_secret_sealed = vault.seal_secret(
            TOTP_PURPOSE, admin.id, secret
        )


def totp_secret(vault: Vault, admin: AdminUser) -> str | None:
    """The admin's TOTP secret, opened (only for the request that needs it)."""
    if admin.totp_secret_sealed is None or admin.totp_kek_id is None:
        return None
    return vault.open_secret(TOTP_PURPOSE, admin.id, admin.totp_kek_id, admin.totp_secret_sealed)


def start_totp_enrolment(session: Session, vault: Vault, admin: AdminUser) -> TotpEnrolment:
    """A secret for ``admin`` (kept until confirmed; a new one only if none is pending)."""
    if admin.totp_enabled:
        raise AdminAccountError("Two-factor login is already on for this account.")
    secret = totp_secret(vault, admin)
    if secret is None:
        secret = pyotp.random_base32()
        _store(vault, admin, secret)
        session.commit()
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


def check_totp(
    session: Session, vault: Vault, admin: AdminUser, code: str, *, now: float | None = None
) -> bool:
    """True when ``code`` is a current code of the admin not used before (commits).

    The step is claimed in the database: ``UPDATE ... WHERE totp_last_step < step``
    changes one row for exactly one of any number of concurrent requests with one code.
    """
    secret = totp_secret(vault, admin)
    if secret is None:
        return False
    step = _accepted_step(secret, code, time.time() if now is None else now)
    if step is None:
        return False
    claimed = session.execute(
        update(AdminUser)
        .where(
            AdminUser.id == admin.id,
            or_(AdminUser.totp_last_step.is_(None), AdminUser.totp_last_step < step),
        )
        .values(totp_last_step=step)
        .execution_options(synchronize_session=False)
    )
    session.commit()
    session.refresh(admin)
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return False
    if admin.totp_kek_id != vault.keyring.active_id:
        _store(vault, admin, secret)  # sealed under an older key: move it to the active one
        session.commit()
    return True


def confirm_totp_enrolment(session: Session, vault: Vault, admin: AdminUser, code: str) -> bool:
    """Turn two-factor login on once the admin typed a valid code from the new secret;
    every session of the admin ends (the caller re-issues its own)."""
    if admin.totp_enabled or not check_totp(session, vault, admin, code):
        return False
    admin.totp_enabled = True
    end_all_sessions(session, admin)
    return True


def disable_totp(session: Session, admin: AdminUser) -> None:
    """Turn two-factor login off, forget the secret and end every session (commits)."""
    admin.totp_enabled = False
    admin.totp_secret_sealed = None
    admin.totp_kek_id = None
    admin.totp_last_step = None
    end_all_sessions(session, admin)


# -- vault rotation --------------------------------------------------------------------


class SealedTotpSecrets:
    """Admins' TOTP secrets as ``billhive vault status`` and ``rotate`` see them."""

    label = "admin TOTP secrets"

    def key_counts(self, session: Session) -> Mapping[str, int]:
        """How many secrets each vault key seals."""
        rows = session.execute(
            select(AdminUser.totp_kek_id, func.count())
            .where(AdminUser.totp_secret_sealed.is_not(None))
            .group_by(AdminUser.totp_kek_id)
        )
        return {str(kek_id): count for kek_id, count in rows}

    def rotate(self, session: Session, vault: Vault) -> int:
        """Re-seal every secret not under the active key; returns how many (commits)."""
        stale = session.scalars(
            select(AdminUser).where(
                AdminUser.totp_secret_sealed.is_not(None),
                AdminUser.totp_kek_id != vault.keyring.active_id,
            )
        ).all()
        for admin in stale:
            assert admin.totp_kek_id is not None and admin.totp_secret_sealed is not None
            admin.totp_kek_id, admin.totp_secret_sealed = vault.reseal_secret(
                TOTP_PURPOSE, admin.id, admin.totp_kek_id, admin.totp_secret_sealed
            )
        session.commit()
        return len(stale)
