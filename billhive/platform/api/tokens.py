"""Creating, finding, listing and revoking API tokens.

A token reads ``bh_<public id>_<secret>``: the public id (16 hex characters) finds the row
and may be logged; the secret (43 URL-safe characters, 256 random bits) never leaves the
response that created it. The row keeps the SHA-256 of the whole token, compared in
constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import Tenant
from billhive.tokens.models import PUBLIC_ID_LENGTH, ApiToken, ApiTokenTenant

TOKEN_PREFIX = "bh_"  # noqa: S105 - a prefix, not a secret
_TOKEN_SHAPE = re.compile(r"^bh_([0-9a-f]{16})_([A-Za-z0-9_-]{43})$")
#: How stale ``last_used_at`` may get before a request updates it.
LAST_USED_RESOLUTION = timedelta(minutes=1)
#: The longest token name.
NAME_MAX = 200


class TokenError(ValueError):
    """A token cannot be created or changed as asked; the message says why."""


@dataclass(frozen=True)
class TokenScope:
    """What a request's token may do, detached from any database session."""

    token_id: int
    public_id: str
    read_only: bool
    #: None: every tenant; otherwise the ids of the tenants the token may reach.
    tenant_ids: frozenset[int] | None

    def allows(self, tenant_id: int) -> bool:
        """True when the token may reach ``tenant_id``."""
        return self.tenant_ids is None or tenant_id in self.tenant_ids


@dataclass(frozen=True)
class NewToken:
    """A token just created: ``plaintext`` is shown once and stored nowhere."""

    token: ApiToken
    plaintext: str


def hash_token(plaintext: str) -> str:
    """Hex SHA-256 of a whole token (what the database keeps)."""
    return hashlib.sha256(plaintext.encode("utf-8")).hexdigest()


def public_id_of(plaintext: str) -> str | None:
    """The public id of a well-formed token, None for anything else (never raises)."""
    match = _TOKEN_SHAPE.match(plaintext)
    return match.group(1) if match else None


def create_token(
    session: Session,
    name: str,
    *,
    read_only: bool = False,
    tenant_ids: Iterable[int] | None = None,
) -> NewToken:
    """Create and commit a token; ``tenant_ids`` None means every tenant.

    Raises :class:`TokenError` for an empty or long name, or a tenant that does not exist.
    """
    name = name.strip()
    if not name or len(name) > NAME_MAX:
        raise TokenError(f"a token name needs 1 to {NAME_MAX} characters")
    scope = None if tenant_ids is None else sorted(set(tenant_ids))
    if scope is not None:
        if not scope:
            raise TokenError("a scoped token needs at least one tenant")
        found = set(session.scalars(select(Tenant.id).where(Tenant.id.in_(scope))))
        missing = [t for t in scope if t not in found]
        if missing:
            raise TokenError(f"no tenant with id {', '.join(map(str, missing))}")
    public_id = secrets.token_hex(PUBLIC_ID_LENGTH // 2)
    plaintext = f"{TOKEN_PREFIX}{public_id}_{secrets.token_urlsafe(32)}"
    token = ApiToken(
        public_id=public_id,
        secret_hash=hash_token(plaintext),
        name=name,
        read_only=read_only,
        all_tenants=scope is None,
    )
    session.add(token)
    session.flush()
    for tenant_id in scope or ():
        session.add(ApiTokenTenant(token_id=token.id, tenant_id=tenant_id))
    session.commit()
    return NewToken(token=token, plaintext=plaintext)


def authenticate(session: Session, plaintext: str) -> TokenScope | None:
    """The scope of a valid, unrevoked token, or None (malformed, unknown, wrong, revoked)."""
    public_id = public_id_of(plaintext)
    if public_id is None:
        return None
    token = session.scalar(select(ApiToken).where(ApiToken.public_id == public_id))
    # The hash is compared in constant time even though it is a hash: cheap insurance.
    if token is None or not hmac.compare_digest(token.secret_hash, hash_token(plaintext)):
        return None
    if token.revoked_at is not None:
        return None
    now = utcnow()
    # Written at most once a minute: a write on every request would cost more than it tells.
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        session.commit()
    return scope_of(session, token)


def scope_of(session: Session, token: ApiToken) -> TokenScope:
    """The detached scope of ``token``."""
    tenant_ids = None
    if not token.all_tenants:
        tenant_ids = frozenset(
            session.scalars(
                select(ApiTokenTenant.tenant_id).where(ApiTokenTenant.token_id == token.id)
            )
        )
    return TokenScope(
        token_id=token.id,
        public_id=token.public_id,
        read_only=token.read_only,
        tenant_ids=tenant_ids,
    )


def list_tokens(session: Session) -> Sequence[ApiToken]:
    """Every token, oldest first (revoked ones included)."""
    return session.scalars(select(ApiToken).order_by(ApiToken.id)).all()


def find_token(session: Session, ref: str) -> ApiToken | None:
    """A token by its numeric id or its public id."""
    if ref.isdigit() and len(ref) < 10:
        return session.get(ApiToken, int(ref))
    return session.scalar(select(ApiToken).where(ApiToken.public_id == ref))


def revoke_token(session: Session, ref: str) -> ApiToken:
    """Revoke a token (by id or public id) and commit; revoking twice is harmless."""
    token = find_token(session, ref)
    if token is None:
        raise TokenError(f"no token {ref!r}")
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        session.commit()
    return token
