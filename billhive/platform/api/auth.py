"""Bearer-token authentication, scope checks and the rate-limit keys.

Every API request (but the public document and docs page) must carry
``Authorization: Bearer <token>``. The token's :class:`TokenScope` is kept on ``g`` for
the views; logs name the token by its id and public id, never the token.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from flask import Flask, current_app, g, request
from flask_limiter.util import get_remote_address

from billhive.platform import extensions
from billhive.platform.api.errors import ApiError
from billhive.platform.api.tokens import TokenScope, authenticate, hash_token, public_id_of

_CACHE_KEY = "billhive.api.tokens"
#: HTTP methods a read-only token may use.
READ_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def bearer_token() -> str | None:
    """The token of the Authorization header, or None when there is none."""
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def authenticate_request(before_lookup: Callable[[], None] | None = None) -> TokenScope:
    """Check the request's token and store its scope on ``g``; 401 otherwise.

    ``before_lookup`` runs before the token is looked up in the database (not for a token
    this process checked recently, nor for a malformed one); it may raise to refuse.
    """
    plaintext = bearer_token()
    if plaintext is None:
        raise ApiError(
            401, "missing_token", "Send an API token as `Authorization: Bearer <token>`."
        )
    scope = _cached_authenticate(plaintext, before_lookup)
    if scope is None:
        raise ApiError(401, "invalid_token", "The API token is not valid or was revoked.")
    g.api_scope = scope
    return scope


def check_method(scope: TokenScope) -> None:
    """403 for a write with a read-only token."""
    if request.method not in READ_METHODS and scope.read_only:
        raise ApiError(403, "read_only_token", "This API token may only read.")


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
    app.extensions[_CACHE_KEY] = TokenCache()


def _cached_authenticate(
    plaintext: str, before_lookup: Callable[[], None] | None
) -> TokenScope | None:
    cache: TokenCache = current_app.extensions[_CACHE_KEY]
    digest = hash_token(plaintext)
    scope = cache.get(digest)
    if scope is None:
        if public_id_of(plaintext) is None:
            return None  # malformed: nothing to look up
        if before_lookup is not None:
            before_lookup()
        scope = authenticate(extensions.db_session(), plaintext)
        if scope is not None:
            cache.put(digest, scope, extensions.settings().api_token_cache_seconds)
    return scope


def current_scope() -> TokenScope:
    """The scope of the request's (already checked) token."""
    scope: TokenScope = g.api_scope
    return scope


def token_id_or_none() -> int | None:
    """The request's token id for logs, when the request was authenticated."""
    scope: TokenScope | None = g.get("api_scope")
    return scope.token_id if scope else None


def token_limit_key(scope: TokenScope) -> str:
    """The key a checked token's requests are counted under (its public id, never the
    token). Only a token that checked out is counted: knowing a public id, which is meant
    to be loggable, must not be enough to use up that token's quota."""
    return f"api-token:{scope.public_id}"


def failure_limit_key() -> str:
    """The key failed authentications are counted under: the client address (behind a
    proxy, ProxyFix must make REMOTE_ADDR the client's)."""
    return f"api-auth-failures:{get_remote_address()}"


def tenant_not_found(tenant_id: int) -> ApiError:
    """The 404 for a tenant that does not exist or that the token may not reach."""
    return ApiError(404, "tenant_not_found", f"No tenant {tenant_id}.", field="tenant_id")


def check_tenant(tenant_id: int) -> None:
    """404 for a tenant outside the token's scope (its existence is not revealed)."""
    if not current_scope().allows(tenant_id):
        raise tenant_not_found(tenant_id)
