"""Leaving: the link is handed out, works once, and leaves nothing personal behind."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.sealed import payload_of
from support.signup import GOOD_PASSWORD, csrf_token

from billhive.config import Settings
from billhive.tenants.contact import contact_email
from billhive.tenants.links import make_leave_url
from billhive.tenants.models import AuditEvent, Tenant, TenantCredentials, TenantStatus
from billhive.tenants.service import SignupRequest, sign_up
from billhive.tenants.vault import Vault
from billhive.workers.calls import enqueue_call
from billhive.workers.models import Call

CONTACT = "inhaberin@kraeuterladen.example"
CUSTOMER = "Erika Mustermann"


@pytest.fixture
def tenant(settings: Settings, session: Session) -> Tenant:
    """An active tenant with a sealed contact e-mail."""
    request = SignupRequest("Kräuterladen Gruber", CONTACT, "owner@shop.test", GOOD_PASSWORD)
    return sign_up(session, Vault.from_settings(settings), request, verify=lambda u, p: None)


def _leave(client: Any, settings: Settings, tenant_id: int) -> str:
    path = urlsplit(make_leave_url(settings, tenant_id)).path
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert response.status_code == 200
    return str(response.get_data(as_text=True))


def test_leaving_erases_credentials_contact_data_and_call_payloads(
    settings: Settings,
    client: Any,
    session: Session,
    tenant: Tenant,
    redis_client: Redis,
    vault: Vault,
) -> None:
    call = enqueue_call(
        tenant.id,
        "orders.add_tags",
        {"id": 1},
        body={"Tags": [CUSTOMER]},
        session=session,
        redis=redis_client,
        vault=vault,
    )
    assert "You have left billhive" in _leave(client, settings, tenant.id)
    session.expire_all()
    left = session.get(Tenant, tenant.id)
    assert left is not None and left.status is TenantStatus.DELETED
    assert session.get(TenantCredentials, tenant.id) is None
    assert left.display_name == f"deleted tenant #{tenant.id}"
    assert (left.contact_email_sealed, left.contact_email_index) == (None, None)
    stored = session.scalars(select(Call).where(Call.id == call.id)).one()
    assert stored.body_sealed is None and stored.payload_purged_at is not None
    assert payload_of(session, vault, stored).purged


def test_the_audit_log_of_leaving_names_no_personal_data(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    _leave(client, settings, tenant.id)
    events = session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant.id)).all()
    text = " ".join(f"{e.actor} {e.action} {e.reason} {e.details}" for e in events)
    assert "deleted" in [e.action for e in events]
    for personal in (CONTACT, "Kräuterladen", "owner@shop.test"):
        assert personal not in text


def test_a_leave_link_works_once(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    path = urlsplit(make_leave_url(settings, tenant.id)).path
    token = csrf_token(client, path)
    client.post(path, data={"csrf_token": token})
    replayed = client.post(path, data={"csrf_token": token}).get_data(as_text=True)
    assert "You have left billhive" in replayed
    assert "Yes, delete" not in client.get(path).get_data(as_text=True)
    deletions = session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant.id, AuditEvent.action == "deleted")
    ).all()
    assert len(deletions) == 1


def test_the_welcome_page_hands_out_a_leave_link(client: Any, session: Session) -> None:
    from support.signup import accepting, post_signup, use_verifier

    use_verifier(client.application, accepting)
    post_signup(client)
    page = client.get("/signup/welcome").get_data(as_text=True)
    assert 'id="leave-link"' in page and "/signup/leave/" in page


def test_the_leave_page_is_shown_in_german(settings: Settings, client: Any, tenant: Tenant) -> None:
    path = urlsplit(make_leave_url(settings, tenant.id)).path
    page = client.get(path, headers={"Accept-Language": "de"}).get_data(as_text=True)
    assert "Kontaktdaten" in page


def test_the_contact_email_opens_until_the_tenant_leaves(
    settings: Settings, client: Any, session: Session, tenant: Tenant, vault: Vault
) -> None:
    assert contact_email(session, vault, tenant) == CONTACT
    _leave(client, settings, tenant.id)
    session.expire_all()
    left = session.get(Tenant, tenant.id)
    assert left is not None and contact_email(session, vault, left) == ""
