"""Helpers shared by the signup tests (no tests here): CSRF-aware posting, verifier doubles.

The doubles stand in for the one Billbee call (``Verifier``) with the client's own typed
errors, so these tests exercise every branch of the pages quickly; the same branches run
against the real sandbox over HTTP in tests/e2e and tests/platform/test_signup_live_check.py.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.billbee.errors import ApiError, CredentialsRejected, TransportError
from billhive.platform.extensions import set_verifier
from billhive.tenants.models import Tenant

GOOD_PASSWORD = "Sandbox#Pass2025"
GOOD_USERNAME = "merchant@shop.test"

_CSRF = re.compile(r'name="csrf_token" type="hidden" value="([^"]+)"')


def csrf_token(client: Any, path: str = "/signup", **kwargs: Any) -> str:
    """The CSRF token of the form on ``path`` (GET with the client's cookies)."""
    page = client.get(path, **kwargs).get_data(as_text=True)
    found = _CSRF.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def signup_fields(**overrides: Any) -> dict[str, Any]:
    """A complete, valid signup form; ``None`` removes a field (unticked checkbox)."""
    fields: dict[str, Any] = {
        "display_name": "Kräuterladen Müller",
        "contact_email": "owner@kraeuterladen.de",
        "billbee_username": GOOD_USERNAME,
        "api_password": GOOD_PASSWORD,
        "invoice_creation_allowed": "y",
        "consent": "y",
    }
    fields.update(overrides)
    return {k: v for k, v in fields.items() if v is not None}


def post_signup(client: Any, **overrides: Any) -> Any:
    """GET the form for a token, then POST it with ``overrides`` applied."""
    data = signup_fields(**overrides)
    data.setdefault("csrf_token", csrf_token(client))
    return client.post("/signup", data=data)


def tenant_count(session: Session) -> int:
    """How many tenant rows exist (fresh read)."""
    session.expire_all()
    return int(session.scalar(select(func.count()).select_from(Tenant)) or 0)


class VerifierDouble:
    """Answers like Billbee would through the client; counts its calls, keeps no secret."""

    def __init__(self, error: Exception | None = None) -> None:
        self.error = error
        self.calls = 0

    def __call__(self, username: str, password: str) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


def accepting() -> VerifierDouble:
    """Billbee accepts the credentials."""
    return VerifierDouble()


def refusing() -> VerifierDouble:
    """Billbee answers 401."""
    return VerifierDouble(CredentialsRejected("refused", status_code=401))


def api_access_off() -> VerifierDouble:
    """Billbee answers ErrorCode 1 (ApiNotActivated)."""
    return VerifierDouble(ApiError("api off", error_code=1))


def unreachable() -> VerifierDouble:
    """No answer from Billbee (connection refused)."""
    return VerifierDouble(TransportError("down", may_have_reached_server=False))


def use_verifier(app: Flask, make: Callable[[], VerifierDouble]) -> VerifierDouble:
    """Install a fresh double on ``app`` and return it."""
    double = make()
    set_verifier(app, double)
    return double
