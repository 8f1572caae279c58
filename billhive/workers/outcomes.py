"""What a worker does after a Billbee call: the decision table, as a pure function.

Kept apart from the job code so every row of the table (success, 429, 5xx, transport
errors, rejected credentials, a non-zero ErrorCode) can be read and tested on its own.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum

from billhive.billbee.errors import (
    ApiError,
    BillbeeError,
    CredentialsRejected,
    ErrorCode,
    InvalidCall,
    ProxyError,
    ServerError,
    Throttled,
    TransportError,
)
from billhive.billbee.operations import Operation


class Verdict(StrEnum):
    """The next step for a call after one attempt."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: Try again after ``delay`` seconds, at the head of the tenant's queue.
    RETRY = "retry"
    #: Billbee said 429: wait ``delay`` (Retry-After), keep the job at the head, slow down.
    THROTTLED = "throttled"
    #: 401/403 or API access switched off: pause the tenant, keep its jobs.
    CREDENTIALS_INVALID = "credentials_invalid"
    #: A non-idempotent write may have reached Billbee without an answer: a human decides.
    UNKNOWN_OUTCOME = "unknown_outcome"


@dataclass(frozen=True)
class Decision:
    """A verdict, how long to wait before the next attempt, and a secret-free reason."""

    verdict: Verdict
    delay: float = 0.0
    reason: str = ""


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter; attempts per operation are configurable."""

    max_attempts: int = 5
    base_delay: float = 1.0
    max_delay: float = 300.0
    attempts_by_operation: Mapping[str, int] | None = None

    def attempts_for(self, operation: str) -> int:
        """How many attempts ``operation`` gets in total."""
        overrides = self.attempts_by_operation or {}
        return max(1, overrides.get(operation, self.max_attempts))

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Seconds before attempt ``attempt + 1``: between half and all of base * 2^(n-1), capped.

        The random half spreads retries of many calls that failed together (a Billbee
        outage) so they do not all come back in the same second.
        """
        ceiling = min(self.max_delay, self.base_delay * 2 ** max(0, attempt - 1))
        return (rng or random).uniform(ceiling / 2, ceiling)


def decide(
    error: BaseException | None,
    operation: Operation,
    attempt: int,
    policy: RetryPolicy,
    rng: random.Random | None = None,
) -> Decision:
    """Decide what follows attempt number ``attempt`` (1-based) that ended with ``error``."""
    if error is None:
        return Decision(Verdict.SUCCEEDED)
    if isinstance(error, Throttled):
        return Decision(Verdict.THROTTLED, error.retry_after, "throttled by Billbee (429)")
    if isinstance(error, CredentialsRejected):
        return Decision(Verdict.CREDENTIALS_INVALID, reason="Billbee refused the credentials")
    if isinstance(error, ApiError):
        if error.error_code == ErrorCode.ApiNotActivated:
            return Decision(
                Verdict.CREDENTIALS_INVALID, reason="API access is switched off in Billbee"
            )
        return Decision(Verdict.FAILED, reason=error.error_name)
    if isinstance(error, ServerError | TransportError):
        # A proxy's 503 page and a connection that never opened did not reach Billbee:
        # even a non-idempotent write may simply be sent again.
        reached = error.may_have_reached_server
        if reached and not operation.idempotent:
            return Decision(
                Verdict.UNKNOWN_OUTCOME,
                reason=f"{type(error).__name__} on a non-idempotent write: it may have happened",
            )
        if attempt >= policy.attempts_for(operation.name):
            return Decision(
                Verdict.FAILED, reason=f"{type(error).__name__} after {attempt} attempts"
            )
        delay = policy.backoff(attempt, rng)
        if isinstance(error, ProxyError) and error.retry_after is not None:
            delay = max(delay, min(error.retry_after, policy.max_delay))
        return Decision(Verdict.RETRY, delay, type(error).__name__)
    if isinstance(error, BillbeeError | InvalidCall):
        return Decision(Verdict.FAILED, reason=type(error).__name__)
    raise error
