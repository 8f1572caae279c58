"""Lockout after repeated failed logins, per account and per client address, in Redis.

Failures are counted in a fixed window; reaching the threshold locks the account (or the
address) until a stated time. Redis is shared by every web process, so the count holds
however many processes serve the dashboard. A successful login clears the account's count
(not the address's: one good password must not reset someone else's guessing).
"""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis

from billhive.platform.admin.accounts import normalize_email

#: Failed logins of one account within the window before it is locked.
ACCOUNT_MAX_FAILURES = 5
#: Failed logins from one client address within the window before it is locked.
ADDRESS_MAX_FAILURES = 20
#: The window failures are counted in, and how long a lock lasts, in seconds.
FAILURE_WINDOW_SECONDS = 15 * 60
LOCK_SECONDS = 15 * 60

_PREFIX = "billhive:admin:login:"


@dataclass(frozen=True)
class Lock:
    """Why logins are refused and until when."""

    scope: str  # "account" or "address"
    until: datetime

    @property
    def message(self) -> str:
        """What the login page says (the unlock time in UTC)."""
        when = self.until.strftime("%H:%M UTC")
        if self.scope == "account":
            return (
                "Too many failed logins for this account. It is locked until "
                f"{when}; try again then."
            )
        return f"Too many failed logins from your address. Try again after {when}."


def _digest(value: str) -> str:
    # Keys hold a hash, so Redis never lists admin e-mails or client addresses in clear.
    return hashlib.sha256(value.encode()).hexdigest()[:32]


def _keys(scope: str, value: str) -> tuple[str, str]:
    base = f"{_PREFIX}{scope}:{_digest(value)}"
    return base + ":failures", base + ":locked"


class Lockout:
    """Failure counting and locks on one Redis."""

    def __init__(self, redis: Redis) -> None:
        self.redis = redis

    def _lock_of(self, scope: str, value: str) -> Lock | None:
        _failures, locked = _keys(scope, value)
        until = self.redis.get(locked)
        if until is None:
            return None
        return Lock(scope, datetime.fromtimestamp(float(until), UTC))

    def check(self, email: str, address: str) -> Lock | None:
        """The lock that refuses this login now, if any (the account's first)."""
        return self._lock_of("account", normalize_email(email)) or self._lock_of("address", address)

    def _count(self, scope: str, value: str, limit: int) -> Lock | None:
        failures, locked = _keys(scope, value)
        pipe = self.redis.pipeline()
        pipe.incr(failures)
        pipe.expire(failures, FAILURE_WINDOW_SECONDS, nx=True)
        count = int(pipe.execute()[0])
        if count < limit:
            return None
        until = time.time() + LOCK_SECONDS
        pipe = self.redis.pipeline()
        pipe.set(locked, str(until), ex=LOCK_SECONDS)
        pipe.delete(failures)
        pipe.execute()
        return Lock(scope, datetime.fromtimestamp(until, UTC))

    def record_failure(self, email: str, address: str) -> Lock | None:
        """Count one failed login; returns the lock it caused, if it caused one."""
        # One account, however its e-mail is capitalised or padded (as the login finds it).
        account = self._count("account", normalize_email(email), ACCOUNT_MAX_FAILURES)
        by_address = self._count("address", address, ADDRESS_MAX_FAILURES)
        return account or by_address

    def record_success(self, email: str) -> None:
        """Forget the account's failures after a successful login."""
        failures, _locked = _keys("account", normalize_email(email))
        self.redis.delete(failures)

    def unlock(self, email: str) -> None:
        """Lift an account's lock (``billhive admin unlock``)."""
        self.redis.delete(*_keys("account", normalize_email(email)))
