"""One live Billbee call that proves a username/API password, and what its answer means.

Signup, reconnect and the verification job all ask the same question; this module turns
the client's typed errors into one of four answers so they all read it the same way.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from billhive.billbee.client import BillbeeClient
from billhive.billbee.errors import (
    ApiError,
    BillbeeError,
    CredentialsRejected,
    ErrorCode,
    ServerError,
    Throttled,
    TransportError,
)
from billhive.config import Settings

#: ``(username, password)``: returns when Billbee accepts them, raises a Billbee error if not.
Verifier = Callable[[str, str], None]

#: Envelope error codes that are a definite "this account cannot use the API" answer.
ACCOUNT_REFUSALS = frozenset({ErrorCode.NoPaidAccount, ErrorCode.APIServiceNotBooked})


class Outcome(StrEnum):
    """What one verification call told us."""

    ACCEPTED = "accepted"
    REJECTED = "rejected"  # 401/403: wrong username or API password
    API_ACCESS_OFF = "api_access_off"  # ErrorCode ApiNotActivated
    ACCOUNT_REFUSED = "account_refused"  # another definite refusal (e.g. API not booked)
    UNREACHABLE = "unreachable"  # timeout, connection, 429, 5xx: ask again later


@dataclass(frozen=True)
class Verdict:
    """An :class:`Outcome` plus a safe, secret-free note for ``last_error`` and the audit log."""

    outcome: Outcome
    note: str = ""


def check(verify: Verifier, username: str, password: str) -> Verdict:
    """Run ``verify`` and classify its answer (only Billbee errors are caught)."""
    try:
        verify(username, password)
    except CredentialsRejected:
        return Verdict(Outcome.REJECTED, "Billbee refused the username or API password.")
    except ApiError as exc:
        if exc.error_code == ErrorCode.ApiNotActivated:
            return Verdict(
                Outcome.API_ACCESS_OFF, "API access is switched off for this Billbee account."
            )
        if exc.error_code in ACCOUNT_REFUSALS:
            return Verdict(
                Outcome.ACCOUNT_REFUSED,
                f"Billbee refused API calls for this account ({exc.error_name}).",
            )
        # InternalError and the like say nothing about the credentials: ask again later.
        return Verdict(Outcome.UNREACHABLE, f"Billbee answered with {exc.error_name}.")
    except (Throttled, ServerError, TransportError) as exc:
        return Verdict(Outcome.UNREACHABLE, f"Billbee could not be asked: {type(exc).__name__}.")
    except BillbeeError as exc:
        # NotFound / InvalidRequest on the cheapest read: Billbee answered, but not as
        # expected. Not a verdict on the credentials, so ask again later.
        return Verdict(Outcome.UNREACHABLE, f"Billbee answered unexpectedly: {type(exc).__name__}.")
    return Verdict(Outcome.ACCEPTED)


def make_verifier(settings: Settings, *, timeout: float | None = None) -> Verifier:
    """A verifier making one cheap authenticated call with the platform's API key.

    ``timeout`` (seconds) overrides ``BILLHIVE_BILLBEE_TIMEOUT``: a signup page may prefer to
    give up sooner and leave the tenant pending verification.
    """
    api_key = settings.require("billbee_api_key")
    base_url = settings.billbee_base_url
    seconds = settings.billbee_timeout if timeout is None else timeout

    def verify(username: str, password: str) -> None:
        with BillbeeClient(
            api_key, username, password, base_url=base_url, timeout=seconds
        ) as client:
            client.verify_credentials()

    return verify
