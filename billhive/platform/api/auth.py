"""Bearer-token authentication, scope checks and the per-token rate-limit key.

Every API request (but the public document and docs page) must carry
``Authorization: Bearer <token>``. The token's :class:`TokenScope` is kept on ``g`` for
the views; logs name the token by its id and public id, never the token.
"""

from __future__ import annotations

import threading
import time

from flask import Flask, current_app, g, request
from flask_limiter.util import get_remote_address

from billhive.platform import extensions
from billhive.platform.api.errors import ApiError
from billhive.platform.api.tokens import TokenScope, authenticate, hash_token, public_id_of

_CACHE_KEY = "billhive.api.tokens"
#: Seconds a checked token is trusted by a web process without asking the database again
#: (a revocation takes effect within this time); the app config key overrides it.
DEFAULT_TOKEN_CACHE_SECONDS = 5.0
CONFIG_TOKEN_CACHE = "API_TOKEN_CACHE_SECONDS"  # noqa: S105 - a config key, not a secret
#: HTTP methods a read-only token may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token() -> str | None:
    """The token of the Authorization header, or None when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_request() -> TokenScope:
    """Check the request's token and store its scope on ``g``; 401/403 otherwise."""
    plaintext = bearer_token()
    if plaintext is None:
        raise ApiError(
            401, "missing_token", "Send an API token as `Authorization: Bearer <token>`."
        )
    scope = _cached_authenticate(plaintext)
    if scope is None:
        raise ApiError(401, "invalid_token", "The API token is not valid or was revoked.")
    g.api_scope = scope
    if request.method not in READ_METHODS and scope.read_only:
        raise ApiError(403, "read_only_token", "This API token may only read.")
    return scope


class TokenCache:
    """Recently checked tokens of this process, so most requests need no token query.

    Keyed by the token's SHA-256 (never the token); a revoked token keeps working in a
    process for at most the app's ``API_TOKEN_CACHE_SECONDS``. Unknown tokens are not cached.
    """

    def __init__(self, max_entries: int = 4096) -> None:
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, TokenScope]] = {}
        self._lock = threading.Lock()

    def get(self, digest: str) -> TokenScope | None:
        """The cached scope, if it is fresh."""
        entry = self._entries.get(digest)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def put(self, digest: str, scope: TokenScope, ttl: float) -> None:
        """Remember ``scope`` for ``ttl`` seconds."""
        if ttl <= 0:
            return
        with self._lock:
            if len(self._entries) >= self.max_entries:
                self._entries.clear()
            self._entries[digest] = (time.monotonic() + ttl, scope)


def init_token_cache(app: Flask) -> None:
    """Give ``app`` its token cache."""
    app.config.setdefault(CONFIG_TOKEN_CACHE, DEFAULT_TOKEN_CACHE_SECONDS)
    app.extensions[_CACHE_KEY] = TokenCache()


def _cached_authenticate(plaintext: str) -> TokenScope | None:
    cache: TokenCache = current_app.extensions[_CACHE_KEY]
    digest = hash_token(plaintext)
    scope = cache.get(digest)
    if scope is None:
        scope = authenticate(extensions.db_session(), plaintext)
        if scope is not None:
            cache.put(digest, scope, float(current_app.config[CONFIG_TOKEN_CACHE]))
    return scope


def current_scope() -> TokenScope:
    """The scope of the request's (already checked) token."""
    scope: TokenScope = g.api_scope
    return scope


def token_id_or_none() -> int | None:
    """The request's token id for logs, when the request was authenticated."""
    scope: TokenScope | None = g.get("api_scope")
    return scope.token_id if scope else None


def rate_limit_key() -> str:
    """The rate-limit key: the token's public id (never the token), else the address.

    The limit is counted before authentication, so a forged token with someone's public id
    counts against that id; it gains nothing but the forger's own 429s and 401s.
    """
    public_id = public_id_of(bearer_token() or "")
    return f"api-token:{public_id}" if public_id else f"api-addr:{get_remote_address()}"


def tenant_not_found(tenant_id: int) -> ApiError:
    """The 404 for a tenant that does not exist or that the token may not reach."""
    return ApiError(404, "tenant_not_found", f"No tenant {tenant_id}.", field="tenant_id")


def check_tenant(tenant_id: int) -> None:
    """404 for a tenant outside the token's scope (its existence is not revealed)."""
    if not current_scope().allows(tenant_id):
        raise tenant_not_found(tenant_id)
