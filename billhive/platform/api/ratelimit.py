"""The JSON API's rate limits: a moving window per token, and one per client address for
failed authentications, counted in Redis.

The counting is the ``limits`` library's (the one Flask-Limiter is built on), on the same
storage as the app's Flask-Limiter, so every web worker process shares the counts. The API
calls it directly: it has exactly one limit string, applied per token to every request,
and Flask-Limiter's generic evaluation of app, blueprint and route limits cost about 7%
of an enqueue request's instructions (docs/api.md, Performance).
"""

from __future__ import annotations

import functools
import math
import time

from limits import RateLimitItem, parse_many
from limits.storage import Storage
from limits.strategies import MovingWindowRateLimiter

from billhive.logs import get_logger
from billhive.platform.api.errors import ApiError

log = get_logger(__name__)


class RateLimited(ApiError):
    """429: a token (or an address failing to authenticate) used up one of its limits;
    ``Retry-After`` says in whole seconds when the oldest counted request leaves that
    limit's window."""

    def __init__(self, item: RateLimitItem, retry_after: int) -> None:
        super().__init__(
            429,
            "rate_limited",
            f"Rate limit exceeded ({item}); retry later.",
            headers={"Retry-After": str(retry_after)},
        )


@functools.lru_cache(maxsize=16)
def parse_rate_limit(text: str) -> tuple[RateLimitItem, ...]:
    """The limits in ``text`` (``"100 per second;3000 per minute"``); ValueError names a
    bad one."""
    return tuple(parse_many(text))


#: The first part of every counter's key, next to Flask-Limiter's own counters.
KEY_NAMESPACE = "billhive-api"


class TokenRateLimit:
    """Counts requests per key against the configured limits; refuses the excess."""

    def __init__(self, storage: Storage) -> None:
        self.strategy = MovingWindowRateLimiter(storage)

    def check(self, limit_text: str, key: str) -> None:
        """Count one request for ``key``; raise :class:`RateLimited` if it is one too many.

        If the storage is unreachable the request passes: a Redis outage must not take the
        API down with it.
        """
        for item in parse_rate_limit(limit_text):
            try:
                allowed = self.strategy.hit(item, KEY_NAMESPACE, key)
            except Exception as exc:  # noqa: BLE001 - any storage failure lets requests through
                log.warning("api_rate_limit_unavailable", error=type(exc).__name__)
                return
            if not allowed:
                raise RateLimited(item, self._retry_after(item, key))

    def refuse_if_spent(self, limit_text: str, key: str) -> None:
        """Raise :class:`RateLimited` if ``key`` has used up a limit, without counting."""
        for item in parse_rate_limit(limit_text):
            try:
                spent = not self.strategy.test(item, KEY_NAMESPACE, key)
            except Exception as exc:  # noqa: BLE001 - as in check()
                log.warning("api_rate_limit_unavailable", error=type(exc).__name__)
                return
            if spent:
                raise RateLimited(item, self._retry_after(item, key))

    def _retry_after(self, item: RateLimitItem, key: str) -> int:
        """Seconds until the oldest request in the window leaves it (the window's length
        if that cannot be read)."""
        try:
            reset_at = self.strategy.get_window_stats(item, KEY_NAMESPACE, key).reset_time
        except Exception:  # noqa: BLE001 - the refusal stands either way
            return int(item.get_expiry())
        return max(1, math.ceil(reset_at - time.time()))
