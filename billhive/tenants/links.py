"""Signed, expiring links a merchant receives: reconnect (new API password) and leave.

A link carries the tenant id (and a reconnect link its number), signed with the app's
secret key and a salt per purpose (so a leave link can never be used as a reconnect link
and vice versa). A reconnect link is valid only while its number is the tenant's newest
(``Tenant.reconnect_link_serial``): making a new link revokes the older ones, and using
one spends it. The CLI, the API and the admin dashboard create them; the signup blueprint
checks them.

Links are always built on ``BILLHIVE_PUBLIC_URL`` (required in production), else on the
configured web address: never on a request's Host header, which the requester chooses.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.tenants.service import issue_reconnect_link


class LinkPurpose(StrEnum):
    """What a signed link allows; each purpose has its own salt."""

    RECONNECT = "reconnect"
    LEAVE = "leave"


_SALTS = {
    LinkPurpose.RECONNECT: "billhive.signup.reconnect",
    LinkPurpose.LEAVE: "billhive.signup.leave",
}
_PATHS = {LinkPurpose.RECONNECT: "/signup/reconnect/", LinkPurpose.LEAVE: "/signup/leave/"}


class LinkInvalid(Exception):
    """A link's token is forged, damaged, for another purpose, or expired."""

    def __init__(self, purpose: LinkPurpose, *, expired: bool) -> None:
        self.purpose = purpose
        self.expired = expired
        reason = "has expired" if expired else "is not valid"
        super().__init__(f"The {purpose.value} link {reason}.")


def _serializer(settings: Settings, purpose: LinkPurpose) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.require("secret_key"), salt=_SALTS[purpose])


@dataclass(frozen=True)
class Link:
    """What a valid link names: the tenant, and for a reconnect link its number."""

    tenant_id: int
    serial: int | None


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def make_token(
    settings: Settings, purpose: LinkPurpose, tenant_id: int, serial: int | None = None
) -> str:
    """A URL-safe signed token naming ``tenant_id`` (and the link's number) for ``purpose``."""
    payload: dict[str, int] = {"t": tenant_id}
    if serial is not None:
        payload["s"] = serial
    return _serializer(settings, purpose).dumps(payload)


def read_link(settings: Settings, purpose: LinkPurpose, token: str) -> Link:
    """What a valid, unexpired ``token`` for ``purpose`` names.

    Raises :class:`LinkInvalid` for anything else (never a decoding error), including a
    reconnect token without a number (made before links were numbered).
    """
    serializer = _serializer(settings, purpose)
    try:
        payload = serializer.loads(token, max_age=max_age(settings, purpose))
    except SignatureExpired as exc:
        raise LinkInvalid(purpose, expired=True) from exc
    except BadSignature as exc:
        raise LinkInvalid(purpose, expired=False) from exc
    if not isinstance(payload, dict) or not _is_int(payload.get("t")):
        raise LinkInvalid(purpose, expired=False)
    serial = payload.get("s")
    if purpose is LinkPurpose.RECONNECT and not _is_int(serial):
        raise LinkInvalid(purpose, expired=False)
    return Link(tenant_id=payload["t"], serial=serial if _is_int(serial) else None)


def read_token(settings: Settings, purpose: LinkPurpose, token: str) -> int:
    """The tenant id a valid, unexpired ``token`` for ``purpose`` names (see
    :func:`read_link`)."""
    return read_link(settings, purpose, token).tenant_id


def max_age(settings: Settings, purpose: LinkPurpose) -> int:
    """Seconds a link for ``purpose`` stays valid (BILLHIVE_RECONNECT/LEAVE_LINK_DAYS)."""
    days = (
        settings.reconnect_link_days
        if purpose is LinkPurpose.RECONNECT
        else settings.leave_link_days
    )
    return days * 24 * 3600


def public_base_url(settings: Settings) -> str:
    """BILLHIVE_PUBLIC_URL, else where the web app listens (never a request's Host)."""
    return (settings.public_url or f"http://{settings.web_host}:{settings.web_port}").rstrip("/")


def make_reconnect_url(session: Session, settings: Settings, tenant_id: int) -> str:
    """A new link where a merchant enters a new API password (valid
    ``BILLHIVE_RECONNECT_LINK_DAYS``, once); every older reconnect link of the tenant stops
    working. Raises ``TenantNotFound`` / ``TenantStateError`` (deleted, disabled)."""
    serial = issue_reconnect_link(session, tenant_id)
    token = make_token(settings, LinkPurpose.RECONNECT, tenant_id, serial)
    return public_base_url(settings) + _PATHS[LinkPurpose.RECONNECT] + token


def make_leave_url(settings: Settings, tenant_id: int) -> str:
    """The link where a merchant confirms leaving and deletes their credentials (30 days)."""
    token = make_token(settings, LinkPurpose.LEAVE, tenant_id)
    return public_base_url(settings) + _PATHS[LinkPurpose.LEAVE] + token
