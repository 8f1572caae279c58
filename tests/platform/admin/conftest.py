"""Fixtures of the admin dashboard tests: an admin, a logged-in client, tenants, calls."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import utcnow
from billhive.platform.admin.accounts import create_admin
from billhive.platform.admin.models import AdminUser
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "correct horse battery staple"
#: The API password every test tenant gets; no page may ever show it.
TENANT_PASSWORD = "Sup3r-Secret-Pa55!"

_TOKEN = re.compile(r'<input[^>]*name="csrf_token"[^>]*value="([^"]+)"')


def csrf_token(client: Any, path: str = "/admin/login") -> str:
    """The CSRF token of the form on ``path`` (bound to the client's session)."""
    page = client.get(path).get_data(as_text=True)
    found = _TOKEN.search(page)
    assert found, f"no CSRF token on {path}"
    return found.group(1)


def log_in(client: Any, email: str = ADMIN_EMAIL, password: str = ADMIN_PASSWORD) -> Any:
    """Post the login form; returns the response."""
    token = csrf_token(client)
    return client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )


@pytest.fixture
def admin(session: Session) -> AdminUser:
    """A stored admin with a known password."""
    return create_admin(session, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def admin_client(client: Any, admin: AdminUser) -> Any:
    """A test client logged in as :func:`admin`."""
    response = log_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@dataclass
class Made:
    """Builders of tenants and calls straight into the database."""

    session: Session
    vault: Vault

    def tenant(
        self,
        name: str = "Acme GmbH",
        email: str = "info@acme.example",
        username: str | None = None,
        status: TenantStatus = TenantStatus.ACTIVE,
    ) -> Tenant:
        username = username or f"user-{name.lower().replace(' ', '-')}@shop.example"
        tenant = Tenant(
            display_name=name,
            contact_email=email,
            username_index=self.vault.blind_index(username),
            status=status,
            invoice_creation_allowed=False,
        )
        self.session.add(tenant)
        self.session.flush()
        sealed = self.vault.seal(tenant.id, username, TENANT_PASSWORD)
        self.session.add(TenantCredentials(tenant_id=tenant.id, **sealed._asdict()))
        self.session.commit()
        return tenant

    def call(
        self,
        tenant: Tenant,
        *,
        operation: str = "orders.get",
        status: CallStatus = CallStatus.SUCCEEDED,
        params: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> Call:
        now = utcnow()
        done = status not in (CallStatus.QUEUED, CallStatus.RUNNING)
        call = Call(
            tenant_id=tenant.id,
            operation=operation,
            params=params if params is not None else {"id": 7},
            status=status,
            attempts=1 if done else 0,
            http_status=200 if status == CallStatus.SUCCEEDED else (500 if done else None),
            error=error,
            result={"Data": {"Id": 7}} if status == CallStatus.SUCCEEDED else None,
            enqueued_at=now - timedelta(seconds=3),
            started_at=now - timedelta(seconds=2) if done else None,
            finished_at=now - timedelta(seconds=1) if done else None,
        )
        self.session.add(call)
        self.session.commit()
        return call


@pytest.fixture
def made(session: Session, settings: Settings) -> Made:
    """Builders of tenants and calls."""
    return Made(session, Vault.from_settings(settings))


@pytest.fixture
def admin_actor(admin: AdminUser) -> str:
    """How the test admin appears in the audit log."""
    return admin.actor


AdminClient = Callable[..., Any]
