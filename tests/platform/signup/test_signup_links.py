"""Reconnect and leave: the signed links and the pages behind them."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
from rq import Queue
from sqlalchemy.orm import Session
from support.signup import (
    GOOD_PASSWORD,
    accepting,
    csrf_token,
    refusing,
    unreachable,
    use_verifier,
)

from billhive.config import Settings
from billhive.platform.extensions import resources
from billhive.tenants.audit import ACTOR_SYSTEM, set_status
from billhive.tenants.links import (
    Link,
    LinkInvalid,
    LinkPurpose,
    make_leave_url,
    make_reconnect_url,
    make_token,
    max_age,
    read_link,
    read_token,
)
from billhive.tenants.models import AuditEvent, Tenant, TenantCredentials, TenantStatus
from billhive.tenants.service import SignupRequest, open_credentials, sign_up
from billhive.tenants.vault import Vault
from billhive.workers.process import SYSTEM_QUEUE

NEW_PASSWORD = "Fresh#Password2026"


@pytest.fixture
def tenant(settings: Settings, session: Session) -> Tenant:
    """An active tenant whose password Billbee has since stopped accepting."""
    request = SignupRequest("Shop", "o@example.de", "owner@shop.test", GOOD_PASSWORD)
    created = sign_up(session, Vault.from_settings(settings), request, verify=lambda u, p: None)
    set_status(
        session,
        created,
        TenantStatus.CREDENTIALS_INVALID,
        actor=ACTOR_SYSTEM,
        reason="Billbee answered 401",
    )
    session.commit()
    return created


def _path(url: str) -> str:
    return urlsplit(url).path


def _fresh(session: Session, tenant_id: int) -> Tenant:
    session.expire_all()
    found = session.get(Tenant, tenant_id)
    assert found is not None
    return found


# -- the tokens -----------------------------------------------------------------------


def test_a_reconnect_token_names_its_tenant_and_its_number(settings: Settings) -> None:
    token = make_token(settings, LinkPurpose.RECONNECT, 42, serial=3)
    assert read_link(settings, LinkPurpose.RECONNECT, token) == Link(tenant_id=42, serial=3)
    assert read_token(settings, LinkPurpose.RECONNECT, token) == 42


def test_a_reconnect_token_without_a_number_is_invalid(settings: Settings) -> None:
    # Made before links were numbered: it could be used any number of times.
    token = make_token(settings, LinkPurpose.RECONNECT, 42)
    with pytest.raises(LinkInvalid):
        read_link(settings, LinkPurpose.RECONNECT, token)


def test_a_leave_token_is_no_reconnect_token(settings: Settings) -> None:
    token = make_token(settings, LinkPurpose.LEAVE, 42)
    with pytest.raises(LinkInvalid):
        read_token(settings, LinkPurpose.RECONNECT, token)


def test_a_tampered_token_is_invalid(settings: Settings) -> None:
    token = make_token(settings, LinkPurpose.RECONNECT, 42)
    with pytest.raises(LinkInvalid) as caught:
        read_token(settings, LinkPurpose.RECONNECT, token[:-2] + "xx")
    assert caught.value.expired is False


def test_a_token_signed_with_another_secret_is_invalid(
    settings: Settings, settings_factory: Any
) -> None:
    other = settings_factory(secret_key="another-secret-" + "x" * 40)
    token = make_token(other, LinkPurpose.RECONNECT, 42)
    with pytest.raises(LinkInvalid):
        read_token(settings, LinkPurpose.RECONNECT, token)


def test_an_old_reconnect_token_has_expired(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    issued = time.time() - max_age(settings, LinkPurpose.RECONNECT) - 60
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: issued)
    token = make_token(settings, LinkPurpose.RECONNECT, 42)
    monkeypatch.undo()
    with pytest.raises(LinkInvalid) as caught:
        read_token(settings, LinkPurpose.RECONNECT, token)
    assert caught.value.expired is True


def test_urls_use_the_public_url_or_else_the_web_address(
    settings: Settings, settings_factory: Any, session: Session, tenant: Tenant
) -> None:
    public = settings_factory(public_url="https://hive.example/")
    assert make_reconnect_url(session, public, tenant.id).startswith(
        "https://hive.example/signup/reconnect/"
    )
    assert make_leave_url(settings, tenant.id).startswith(
        f"http://{settings.web_host}:{settings.web_port}/signup/leave/"
    )


def test_the_token_does_not_reveal_more_than_the_tenant_id(
    settings: Settings, session: Session, tenant: Tenant
) -> None:
    url = make_reconnect_url(session, settings, tenant.id)
    assert settings.require("secret_key") not in url


# -- reconnect ------------------------------------------------------------------------


def test_reconnect_page_asks_for_the_new_api_password(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    page = client.get(_path(make_reconnect_url(session, settings, tenant.id))).get_data(
        as_text=True
    )
    assert "Enter your new API password" in page
    assert 'name="api_password"' in page
    assert 'name="csrf_token"' in page


def test_accepted_new_password_makes_the_tenant_active_again(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    use_verifier(app, accepting)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "api_password": NEW_PASSWORD}
    )
    assert response.status_code == 200
    assert "Connected again" in response.get_data(as_text=True)
    assert _fresh(session, tenant.id).status == TenantStatus.ACTIVE
    vault = Vault.from_settings(settings)
    assert open_credentials(session, vault, tenant.id).password == NEW_PASSWORD


def test_refused_new_password_changes_nothing(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    use_verifier(app, refusing)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "api_password": NEW_PASSWORD}
    )
    assert response.status_code == 422
    assert "Billbee refused this username/API password" in response.get_data(as_text=True)
    assert _fresh(session, tenant.id).status == TenantStatus.CREDENTIALS_INVALID
    vault = Vault.from_settings(settings)
    assert open_credentials(session, vault, tenant.id).password == GOOD_PASSWORD


def test_new_password_breaking_the_rules_is_refused_before_billbee(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    verifier = use_verifier(app, accepting)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "api_password": "short"}
    )
    assert response.status_code == 422
    assert 'id="api_password-error"' in response.get_data(as_text=True)
    assert verifier.calls == 0


def test_reconnect_while_billbee_is_down_waits_and_enqueues_a_verification(
    app: Any,
    settings: Settings,
    client: Any,
    session: Session,
    tenant: Tenant,
) -> None:
    use_verifier(app, unreachable)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    response = client.post(
        path, data={"csrf_token": csrf_token(client, path), "api_password": NEW_PASSWORD}
    )
    assert "We could not reach Billbee just now" in response.get_data(as_text=True)
    # The new password waits; the stored one stays until Billbee accepts the new one.
    assert _fresh(session, tenant.id).status == TenantStatus.CREDENTIALS_INVALID
    vault = Vault.from_settings(settings)
    assert open_credentials(session, vault, tenant.id).password == GOOD_PASSWORD
    jobs = Queue(SYSTEM_QUEUE, connection=resources(app).redis).get_jobs()
    assert [job.args for job in jobs] == [(tenant.id,)]


def test_a_damaged_reconnect_link_shows_a_friendly_page(client: Any) -> None:
    response = client.get("/signup/reconnect/not-a-token")
    assert response.status_code == 404
    assert "This link is not valid" in response.get_data(as_text=True)


def test_a_leave_link_does_not_open_the_reconnect_page(
    settings: Settings, client: Any, tenant: Tenant
) -> None:
    token = _path(make_leave_url(settings, tenant.id)).rsplit("/", 1)[1]
    assert client.get(f"/signup/reconnect/{token}").status_code == 404


# -- leave ----------------------------------------------------------------------------


def test_leave_link_asks_for_confirmation_and_deletes_nothing_yet(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    page = client.get(_path(make_leave_url(settings, tenant.id))).get_data(as_text=True)
    assert "Yes, delete my credentials" in page
    assert _fresh(session, tenant.id).status == TenantStatus.CREDENTIALS_INVALID


def test_confirming_leave_shreds_the_credentials_and_marks_the_tenant_deleted(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    path = _path(make_leave_url(settings, tenant.id))
    response = client.post(path, data={"csrf_token": csrf_token(client, path)})
    assert "You have left billhive" in response.get_data(as_text=True)
    assert _fresh(session, tenant.id).status == TenantStatus.DELETED
    assert session.get(TenantCredentials, tenant.id) is None
    actions = [e.action for e in session.query(AuditEvent).filter_by(tenant_id=tenant.id)]
    assert "deleted" in actions


def test_leave_without_csrf_token_deletes_nothing(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    response = client.post(_path(make_leave_url(settings, tenant.id)))
    assert response.status_code == 400
    assert _fresh(session, tenant.id).status == TenantStatus.CREDENTIALS_INVALID


def test_a_reconnect_link_of_a_tenant_that_left_is_no_longer_valid(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    reconnect_path = _path(make_reconnect_url(session, settings, tenant.id))
    leave = _path(make_leave_url(settings, tenant.id))
    client.post(leave, data={"csrf_token": csrf_token(client, leave)})
    response = client.get(reconnect_path)
    assert response.status_code == 404


def test_link_lifetimes_come_from_the_settings(settings_factory: Any) -> None:
    short = settings_factory(reconnect_link_days=1, leave_link_days=2)
    assert max_age(short, LinkPurpose.RECONNECT) == 86_400
    assert max_age(short, LinkPurpose.LEAVE) == 2 * 86_400


# -- single use, revocation, the operator's pause (issue 13) ---------------------------


def _send(client: Any, path: str, password: str = NEW_PASSWORD) -> Any:
    return client.post(
        path, data={"csrf_token": csrf_token(client, path), "api_password": password}
    )


def test_a_reconnect_link_works_only_once(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    use_verifier(app, accepting)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    assert "Connected again" in _send(client, path).get_data(as_text=True)
    assert client.get(path).status_code == 404
    again = client.post(path, data={"csrf_token": "x", "api_password": "Other#Password2026"})
    assert again.status_code in (400, 404)
    assert open_credentials(session, Vault.from_settings(settings), tenant.id).password == (
        NEW_PASSWORD
    )


def test_a_link_is_spent_by_a_password_that_waits_for_billbee_too(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    use_verifier(app, unreachable)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    _send(client, path)
    assert client.get(path).status_code == 404


def test_a_new_reconnect_link_revokes_the_older_ones(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    use_verifier(app, accepting)
    older = _path(make_reconnect_url(session, settings, tenant.id))
    newer = _path(make_reconnect_url(session, settings, tenant.id))
    assert client.get(older).status_code == 404
    assert client.get(newer).status_code == 200
    assert "Connected again" in _send(client, newer).get_data(as_text=True)


def test_a_password_billbee_refuses_leaves_the_link_usable(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    use_verifier(app, refusing)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    assert _send(client, path).status_code == 422
    use_verifier(app, accepting)
    assert "Connected again" in _send(client, path).get_data(as_text=True)


def test_reconnecting_keeps_an_operators_pause(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    set_status(
        session, _fresh(session, tenant.id), TenantStatus.PAUSED, actor="admin:1", reason="x"
    )
    session.commit()
    use_verifier(app, accepting)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    assert "Connected again" in _send(client, path).get_data(as_text=True)
    assert _fresh(session, tenant.id).status == TenantStatus.PAUSED
    assert open_credentials(session, Vault.from_settings(settings), tenant.id).password == (
        NEW_PASSWORD
    )


def test_links_never_take_their_address_from_the_host_header(
    client: Any, settings: Settings
) -> None:
    from billhive.tenants.links import public_base_url

    page = client.get("/signup", headers={"Host": "evil.example"}).get_data(as_text=True)
    assert "evil.example" not in page
    assert public_base_url(settings) == f"http://{settings.web_host}:{settings.web_port}"


# -- confirming the invoice permission again ---------------------------------------------


def _refused(session: Session, tenant: Tenant) -> None:
    from billhive.db import utcnow

    tenant.invoice_creation_allowed = False
    tenant.invoice_refused_at = utcnow()
    session.commit()


def test_the_reconnect_page_tells_of_billbees_refusal_and_offers_the_permission(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    _refused(session, tenant)
    page = client.get(_path(make_reconnect_url(session, settings, tenant.id))).get_data(
        as_text=True
    )
    assert 'id="invoice-refused"' in page and "Rechnungserstellung" in page
    assert 'name="invoice_creation_allowed"' in page


def test_a_merchant_confirms_the_invoice_permission_on_the_reconnect_page(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    _refused(session, tenant)
    use_verifier(app, accepting)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    response = client.post(
        path,
        data={
            "csrf_token": csrf_token(client, path),
            "api_password": NEW_PASSWORD,
            "invoice_creation_allowed": "y",
        },
    )
    assert response.status_code == 200
    fresh = _fresh(session, tenant.id)
    assert fresh.invoice_creation_allowed is True and fresh.invoice_refused_at is None
    actions = [e.action for e in session.query(AuditEvent).filter_by(tenant_id=tenant.id)]
    assert "invoice_permission_confirmed" in actions


def test_a_reconnect_without_the_box_leaves_invoices_not_allowed(
    app: Any, settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    _refused(session, tenant)
    use_verifier(app, accepting)
    path = _path(make_reconnect_url(session, settings, tenant.id))
    client.post(path, data={"csrf_token": csrf_token(client, path), "api_password": NEW_PASSWORD})
    assert _fresh(session, tenant.id).invoice_creation_allowed is False


def test_an_active_tenant_is_asked_only_to_confirm_with_its_password(
    settings: Settings, client: Any, session: Session, tenant: Tenant
) -> None:
    from billhive.tenants.audit import ACTOR_SYSTEM as SYSTEM

    set_status(session, tenant, TenantStatus.ACTIVE, actor=SYSTEM, reason="verified")
    session.commit()
    page = client.get(_path(make_reconnect_url(session, settings, tenant.id))).get_data(
        as_text=True
    )
    assert "to confirm the settings below" in page
