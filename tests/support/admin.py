"""What the admin dashboard tests share: the test admin, CSRF tokens, login, builders."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus
from support.factories import ADMIN_EMAIL, ADMIN_PASSWORD, add_tenant
from support.sealed import store_payload

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
        tenant = add_tenant(
            self.session,
            self.vault,
            status=status,
            display_name=name,
            contact_email=email,
            username=username,
            password=TENANT_PASSWORD,
            claim_username=True,
            invoice_creation_allowed=False,
        )
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
            status=status,
            attempts=1 if done else 0,
            http_status=200 if status == CallStatus.SUCCEEDED else (500 if done else None),
            error=error,
            enqueued_at=now - timedelta(seconds=3),
            started_at=now - timedelta(seconds=2) if done else None,
            finished_at=now - timedelta(seconds=1) if done else None,
        )
        self.session.add(call)
        store_payload(
            self.session,
            self.vault,
            call,
            params=params if params is not None else {"id": 7},
            result={"Data": {"Id": 7}} if status == CallStatus.SUCCEEDED else None,
        )
        self.session.commit()
        return call
