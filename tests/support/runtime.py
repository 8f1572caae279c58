"""End to end harness shared by the worker and feed tests (no tests here): a sandbox over
HTTP, the workers' runtime pointing at it, merchants signed up through the real service.

Each test package keeps its own API key and account names (its conftest's fixtures are
thin wrappers), so what the tests assert does not depend on which package made them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from flask import Response

from billhive.config import Settings
from billhive.sandbox import create_sandbox_app
from billhive.tenants.models import TenantStatus
from billhive.tenants.service import SignupRequest, sign_up
from billhive.tenants.verify import make_verifier
from billhive.workers.outcomes import RetryPolicy
from billhive.workers.runtime import Runtime, set_runtime

#: Fast retries: a test waits fractions of a second for a call's next attempt.
FAST_RETRIES = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2)


@dataclass(frozen=True)
class Account:
    """A merchant account of the sandbox."""

    id: int
    username: str
    password: str
    name: str

    def as_sandbox(self) -> dict[str, Any]:
        """The account as ``create_sandbox_app(accounts=...)`` takes it."""
        return {
            "id": self.id,
            "username": self.username,
            "password": self.password,
            "name": self.name,
        }


def serve_sandbox(
    live_server_factory: Callable[[Any], Any],
    api_key: str,
    accounts: list[Account],
    bulk_caps: dict[str, int] | None = None,
    after_request: Callable[[Response], Response] | None = None,
) -> Any:
    """A throttling sandbox with ``accounts`` and one API key, served over HTTP
    (``bulk_caps``: items per bulk call it accepts, default the catalog's;
    ``after_request``: changes its answers, for a Billbee behaviour it does not have)."""
    app = create_sandbox_app(
        api_keys=[api_key], accounts=[a.as_sandbox() for a in accounts], bulk_caps=bulk_caps
    )
    if after_request is not None:
        app.after_request(after_request)
    return live_server_factory(app)


def sandbox_runtime(
    settings_factory: Callable[..., Settings], sandbox: Any, api_key: str
) -> Iterator[Runtime]:
    """The workers' runtime on the test database, Redis and ``sandbox`` (fast retries),
    set as the process's runtime while the generator is suspended (a fixture's body)."""
    settings = settings_factory(
        billbee_base_url=sandbox.url + "/api/v1", billbee_api_key=api_key, billbee_timeout=2.0
    )
    rt = Runtime.from_settings(settings)
    rt.policy = FAST_RETRIES
    set_runtime(rt)
    yield rt
    set_runtime(None)
    rt.close()


def sign_up_account(runtime: Runtime, account: Account, *, display_name: str, email: str) -> int:
    """Sign ``account`` up through the real service (Billbee verifies it); returns the id."""
    request = SignupRequest(
        display_name=display_name,
        contact_email=email,
        username=account.username,
        password=account.password,
        invoice_creation_allowed=False,
    )
    with runtime.database.session() as session:
        tenant = sign_up(session, runtime.vault, request, verify=make_verifier(runtime.settings))
        assert tenant.status is TenantStatus.ACTIVE
        return tenant.id
