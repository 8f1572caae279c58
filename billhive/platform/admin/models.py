"""The admin account model, and the indexes the dashboard's queries rely on.

Admins are the integration vendor's operators; they have nothing to do with merchants
(tenants), who have no login at all. The extra indexes on ``calls`` and ``usage_days`` are
declared here because only the dashboard and ``/metrics`` query by those columns; the
functional search indexes on ``tenants`` are written per database by migration 0004 (plain
``lower(col)`` on SQLite, ``lower(col) COLLATE "C"`` on PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, utcnow

#: Prefix of an admin's id in the login session: a session whose user id lacks it is
#: never loaded as an admin, whatever else may one day put ids into the session.
SESSION_ID_PREFIX = "admin:"
#: The vault purpose (associated data) admins' TOTP secrets are sealed under.
TOTP_PURPOSE = "admin-totp"


class AdminUser(Base):
    """An operator who may use the dashboard. ``password_hash`` is argon2id."""

    __tablename__ = "admin_users"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    #: Stored lower-cased, so logins are case-insensitive.
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    #: The base32 TOTP secret once enrolment started, sealed by the vault key ``totp_kek_id``
    #: (``Vault.seal_secret``, purpose :data:`TOTP_PURPOSE`); used at login only when
    #: ``totp_enabled``.
    totp_secret_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    totp_kek_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    totp_enabled: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The last accepted TOTP time step, so a code cannot be used twice.
    totp_last_step: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Part of every session id of this admin: raising it ends all of them (logout,
    #: password reset, TOTP changes).
    session_epoch: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    # -- the Flask-Login user protocol --------------------------------------------------

    @property
    def is_authenticated(self) -> bool:
        """Flask-Login: a loaded admin is authenticated."""
        return True

    @property
    def is_active(self) -> bool:
        """Flask-Login: a deactivated admin cannot log in."""
        return self.active

    @property
    def is_anonymous(self) -> bool:
        """Flask-Login: never anonymous."""
        return False

    def get_id(self) -> str:
        """Flask-Login: the id kept in the session, marked as an admin's, with the session
        epoch it was issued in (``admin:<id>:<epoch>``)."""
        return f"{SESSION_ID_PREFIX}{self.id}:{self.session_epoch}"

    @property
    def actor(self) -> str:
        """How this admin appears in the audit log."""
        return f"admin:{self.id}"

    def __repr__(self) -> str:
        return f"<AdminUser id={self.id}>"
