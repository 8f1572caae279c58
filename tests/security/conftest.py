"""The platform the hostile-input suite attacks: seeded with an admin, a tenant with
sealed credentials, an API token, a call and valid links, so every route has something
real behind it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.hostile import CSRF_FIELD, Target
from support.sealed import store_payload

from billhive.billbee.errors import CredentialsRejected
from billhive.config import Settings
from billhive.db import utcnow
from billhive.platform import create_app
from billhive.platform.admin.accounts import create_admin
from billhive.platform.api.tokens import create_token, revoke_token
from billhive.platform.extensions import set_verifier
from billhive.tenants.contact import seal_contact_email
from billhive.tenants.links import make_leave_url, make_reconnect_url
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus

ADMIN_EMAIL = "ops@example.com"
ADMIN_PASSWORD = "Admin-Pass-Never-Shown-2026"
TENANT_USERNAME = "merchant-login@shop.example"
TENANT_PASSWORD = "Tenant#Secret-2026x"
METRICS_TOKEN = "metrics-token-" + "k3Yq9ZpL2wXr8TbN4vMa7sEdQ"


def refusing(username: str, password: str) -> None:
    """Billbee refuses every credential (no network in this suite)."""
    raise CredentialsRejected("refused", status_code=401)


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db: Any) -> Settings:
    """Generous rate limits (the walk sends many requests from one address) and /metrics on."""
    return settings_factory(
        metrics_token=METRICS_TOKEN,
        signup_rate_limit="100000 per minute",
        api_auth_failure_limit="100000 per minute",
        billbee_base_url="http://127.0.0.1:9/api/v1",
        billbee_timeout=0.5,
    )


@pytest.fixture
def target(settings: Settings, session: Session) -> Target:
    """The seeded platform and the secrets it holds."""
    app = create_app(settings)
    app.config.update(TESTING=True)
    set_verifier(app, refusing)
    vault = Vault.from_settings(settings)
    create_admin(session, ADMIN_EMAIL, ADMIN_PASSWORD)
    tenant = Tenant(
        display_name="Seeded Shop",
        username_index=vault.blind_index(TENANT_USERNAME),
        status=TenantStatus.ACTIVE,
    )
    session.add(tenant)
    session.flush()
    sealed = vault.seal(tenant.id, TENANT_USERNAME, TENANT_PASSWORD)
    credentials = TenantCredentials(tenant_id=tenant.id, **sealed._asdict())
    session.add(credentials)
    seal_contact_email(vault, tenant, credentials, "owner@seeded.example")
    call = Call(
        tenant_id=tenant.id,
        operation="orders.get",
        status=CallStatus.FAILED,
        attempts=1,
        enqueued_at=utcnow(),
    )
    session.add(call)
    store_payload(session, vault, call, params={"id": 7})
    session.commit()
    token = create_token(session, "hostile-suite").plaintext
    revoked = create_token(session, "revoked").plaintext
    revoke_token(session, revoked.split("_")[1])
    reconnect = make_reconnect_url(session, settings, tenant.id).rsplit("/", 1)[1]
    leave = make_leave_url(settings, tenant.id).rsplit("/", 1)[1]
    ids = {
        "tenant_id": str(tenant.id),
        "call_id": str(call.id),
        "code": "de",
        "signup.reconnect_page:token": reconnect,
        "signup.leave_page:token": leave,
        "static:filename": "style.css",
        "signup.static:filename": "signup.css",
        "api_token": token,
        "revoked_token": revoked,
    }
    vault_key = settings.require("vault_keys").split(":", 1)[1]
    secrets = [
        settings.require("secret_key"),
        settings.require("billbee_api_key"),
        vault_key,
        settings.require("blind_index_key"),
        METRICS_TOKEN,
        ADMIN_PASSWORD,
        token,
        token.split("_", 2)[2],
        TENANT_USERNAME,
        TENANT_PASSWORD,
    ]
    return Target(app=app, ids=ids, secrets=secrets)


@pytest.fixture
def admin_client(target: Target) -> Any:
    """A client logged in as the seeded admin."""
    client = target.app.test_client()
    page = client.get("/admin/login").get_data(as_text=True)
    token = CSRF_FIELD.search(page)
    assert token
    response = client.post(
        "/admin/login",
        data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD, "csrf_token": token.group(1)},
    )
    assert response.status_code == 302
    return client
