"""Signed, expiring links a merchant receives: reconnect (new API password) and leave.

A link carries only the tenant id, signed with the app's secret key and a salt per purpose
(so a leave link can never be used as a reconnect link and vice versa). The CLI and the
admin dashboard create them; the signup blueprint checks them.
"""

from __future__ import annotations

from enum import StrEnum

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from billhive.config import Settings


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


def make_token(settings: Settings, purpose: LinkPurpose, tenant_id: int) -> str:
    """A URL-safe signed token naming ``tenant_id`` for ``purpose``."""
    return _serializer(settings, purpose).dumps({"t": tenant_id})


def read_token(settings: Settings, purpose: LinkPurpose, token: str) -> int:
    """The tenant id a valid, unexpired ``token`` for ``purpose`` names.

    Raises :class:`LinkInvalid` for anything else (never a decoding error).
    """
    serializer = _serializer(settings, purpose)
    try:
        payload = serializer.loads(token, max_age=max_age(settings, purpose))
    except SignatureExpired as exc:
        raise LinkInvalid(purpose, expired=True) from exc
    except BadSignature as exc:
        raise LinkInvalid(purpose, expired=False) from exc
    tenant_id = payload.get("t") if isinstance(payload, dict) else None
    if not isinstance(tenant_id, int) or isinstance(tenant_id, bool):
        raise LinkInvalid(purpose, expired=False)
    return tenant_id


def max_age(settings: Settings, purpose: LinkPurpose) -> int:
    """Seconds a link for ``purpose`` stays valid (BILLHIVE_RECONNECT/LEAVE_LINK_DAYS)."""
    days = (
        settings.reconnect_link_days
        if purpose is LinkPurpose.RECONNECT
        else settings.leave_link_days
    )
    return days * 24 * 3600


def default_base_url(settings: Settings) -> str:
    """BILLHIVE_PUBLIC_URL, else where the web app listens."""
    return settings.public_url or f"http://{settings.web_host}:{settings.web_port}"


def _url(settings: Settings, purpose: LinkPurpose, tenant_id: int, base_url: str | None) -> str:
    # A configured public URL wins over the address a request came in on (a proxy's).
    base = (settings.public_url or base_url or default_base_url(settings)).rstrip("/")
    return base + _PATHS[purpose] + make_token(settings, purpose, tenant_id)


def make_reconnect_url(settings: Settings, tenant_id: int, base_url: str | None = None) -> str:
    """The link where a merchant enters a new API password (valid for a week).

    ``base_url`` is the platform's public address (``request.host_url`` in the admin);
    without it the configured web host and port are used.
    """
    return _url(settings, LinkPurpose.RECONNECT, tenant_id, base_url)


def make_leave_url(settings: Settings, tenant_id: int, base_url: str | None = None) -> str:
    """The link where a merchant confirms leaving and deletes their credentials (30 days)."""
    return _url(settings, LinkPurpose.LEAVE, tenant_id, base_url)
