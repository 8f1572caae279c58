"""The /signup form: each outcome of a submission, rendered by the Flask test client."""

from __future__ import annotations

import re
from typing import Any

import pytest
from redis import Redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.signup import (
    GOOD_PASSWORD,
    GOOD_USERNAME,
    accepting,
    api_access_off,
    post_signup,
    refusing,
    tenant_count,
    unreachable,
    use_verifier,
)

from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.workers.process import SYSTEM_QUEUE


def _input_tag(page: str, name: str) -> str:
    found = re.search(rf'<input[^>]*name="{name}"[^>]*>', page)
    assert found, f"no input {name}"
    return found.group(0)


def test_signup_page_has_every_field_with_a_label_and_a_csrf_token(client: Any) -> None:
    page = client.get("/signup").get_data(as_text=True)
    for name in (
        "display_name",
        "contact_email",
        "billbee_username",
        "api_password",
        "invoice_creation_allowed",
        "consent",
    ):
        assert f'<label for="{name}"' in page
        assert f'id="{name}"' in page
    assert 'name="csrf_token"' in page


def test_signup_page_explains_where_the_api_password_is_set_in_billbee(client: Any) -> None:
    page = client.get("/signup").get_data(as_text=True)
    assert "General settings" in page
    assert "Rechnungserstellung" in page
    assert "employee account" in page


def test_signup_page_needs_no_javascript(client: Any) -> None:
    page = client.get("/signup").get_data(as_text=True)
    assert "<script" not in page
    assert 'method="post"' in page


def test_accepted_credentials_make_an_active_tenant_and_show_the_confirmation(
    app: Any, client: Any, session: Session
) -> None:
    verifier = use_verifier(app, accepting)
    response = post_signup(client)
    assert response.status_code == 303
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    tenant = session.scalars(select(Tenant)).one()
    assert tenant.status == TenantStatus.ACTIVE
    assert tenant.invoice_creation_allowed is True
    assert verifier.calls == 1
    assert "Billbee accepted your credentials" in page
    assert "Kräuterladen Müller" in page


def test_confirmation_page_without_a_signup_goes_back_to_the_form(client: Any) -> None:
    response = client.get("/signup/welcome")
    assert response.status_code == 303
    assert response.headers["Location"].endswith("/signup")


def test_each_broken_password_rule_gets_its_own_message_next_to_the_field(
    app: Any, client: Any, session: Session
) -> None:
    verifier = use_verifier(app, accepting)
    page = post_signup(client, api_password="short:").get_data(as_text=True)
    errors = re.search(r'<ul class="field-error" id="api_password-error">(.*?)</ul>', page, re.S)
    assert errors, "no error list tied to the password field"
    messages = re.findall(r"<li>(.*?)</li>", errors.group(1))
    assert len(messages) == 5  # too short, no upper, no digit, no special, colon
    assert verifier.calls == 0
    assert tenant_count(session) == 0


def test_a_rule_error_marks_the_field_invalid_and_describes_it(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    page = post_signup(client, api_password="alllowercase1!").get_data(as_text=True)
    tag = _input_tag(page, "api_password")
    assert 'aria-invalid="true"' in tag
    assert "api_password-error" in tag
    assert 'id="api_password-error"' in page


def test_username_with_a_colon_is_refused_before_any_billbee_call(app: Any, client: Any) -> None:
    verifier = use_verifier(app, accepting)
    response = post_signup(client, billbee_username="shop:owner")
    assert response.status_code == 422
    assert "must not contain a colon" in response.get_data(as_text=True)
    assert verifier.calls == 0


def test_empty_username_asks_for_it(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    page = post_signup(client, billbee_username="   ").get_data(as_text=True)
    assert "Enter your Billbee username or login e-mail." in page


def test_password_is_never_rendered_back_into_the_form(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    response = post_signup(client, consent=None)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert GOOD_PASSWORD not in page
    assert 'value=""' in _input_tag(page, "api_password")


def test_missing_consent_is_refused_with_a_message(app: Any, client: Any, session: Session) -> None:
    use_verifier(app, accepting)
    response = post_signup(client, consent=None)
    assert response.status_code == 422
    assert "only connect your account with your consent" in response.get_data(as_text=True)
    assert tenant_count(session) == 0


def test_malformed_email_is_refused_with_a_message(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    response = post_signup(client, contact_email="not-an-address@")
    assert response.status_code == 422
    assert "not a valid e-mail address" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "case",
    [
        ("display_name", "x" * 201, 200),
        ("contact_email", "a" * 250 + "@example.de", 254),
        ("billbee_username", "u" * 255, 254),
        ("api_password", "Aa1!" * 70, 256),
    ],
)
def test_oversized_field_is_refused_with_its_limit(
    app: Any, client: Any, session: Session, case: tuple[str, str, int]
) -> None:
    field, value, limit = case
    verifier = use_verifier(app, accepting)
    response = post_signup(client, **{field: value})
    assert response.status_code == 422
    assert f"At most {limit} characters" in response.get_data(as_text=True)
    assert verifier.calls == 0
    assert tenant_count(session) == 0


def test_control_characters_are_refused(app: Any, client: Any) -> None:
    use_verifier(app, accepting)
    response = post_signup(client, billbee_username="shop\x00owner@shop.test")
    assert response.status_code == 422
    assert "must not contain control characters" in response.get_data(as_text=True)


def test_refused_credentials_show_a_form_error_and_store_nothing(
    app: Any, client: Any, session: Session, redis_client: Redis
) -> None:
    use_verifier(app, refusing)
    response = post_signup(client)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Billbee refused this username/API password" in page
    assert GOOD_PASSWORD not in page
    assert tenant_count(session) == 0
    assert session.scalars(select(TenantCredentials)).first() is None
    assert Queue(SYSTEM_QUEUE, connection=redis_client).count == 0


def test_api_access_off_tells_the_merchant_to_switch_it_on(
    app: Any, client: Any, session: Session
) -> None:
    use_verifier(app, api_access_off)
    page = post_signup(client).get_data(as_text=True)
    assert "API access is switched off" in page
    assert "General settings" in page
    assert tenant_count(session) == 0


def test_unreachable_billbee_stores_a_pending_tenant_and_enqueues_its_verification(
    app: Any, client: Any, session: Session, redis_client: Redis
) -> None:
    use_verifier(app, unreachable)
    response = post_signup(client)
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    tenant = session.scalars(select(Tenant)).one()
    assert tenant.status == TenantStatus.PENDING_VERIFICATION
    jobs = Queue(SYSTEM_QUEUE, connection=redis_client).get_jobs()
    assert [job.args for job in jobs] == [(tenant.id,)]
    assert "We could not reach Billbee just now" in page


def test_duplicate_username_gets_a_clear_message_next_to_the_username(
    app: Any, client: Any, session: Session
) -> None:
    use_verifier(app, accepting)
    post_signup(client)
    response = post_signup(client, billbee_username="  " + GOOD_USERNAME.upper())
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    errors = re.search(r'id="billbee_username-error">(.*?)</ul>', page, re.S)
    assert errors and "already connected to billhive" in errors.group(1)
    assert tenant_count(session) == 1


def test_signup_pages_are_not_cached(client: Any) -> None:
    assert client.get("/signup").headers["Cache-Control"] == "no-store"


# -- no username enumeration, no squatting during an outage (issue 13) -----------------

_TOKEN = re.compile(r'name="csrf_token" type="hidden" value="[^"]+"')


def test_a_taken_username_with_a_wrong_password_gets_the_same_page_as_a_free_one(
    app: Any, client: Any, session: Session
) -> None:
    use_verifier(app, accepting)
    post_signup(client)
    verifier = use_verifier(app, refusing)
    pages = []
    for username in (GOOD_USERNAME, "not-connected@shop.test"):
        response = post_signup(client, billbee_username=username)
        page = _TOKEN.sub("", response.get_data(as_text=True)).replace(username, "<name>")
        pages.append((response.status_code, page))
    assert pages[0] == pages[1]
    assert pages[0][0] == 422
    assert "already connected" not in pages[0][1]
    assert verifier.calls == 2  # Billbee was asked both times: the same work, the same time
    assert tenant_count(session) == 1


def test_a_signup_while_billbee_is_down_cannot_take_a_connected_username(
    app: Any, client: Any, session: Session
) -> None:
    use_verifier(app, accepting)
    post_signup(client)
    connected = session.scalars(select(Tenant)).one()
    use_verifier(app, unreachable)
    response = post_signup(client, api_password="Squatter#Pass2026")
    assert response.status_code == 303  # the same welcome as for a free username
    session.expire_all()
    assert session.get(Tenant, connected.id).status == TenantStatus.ACTIVE  # type: ignore[union-attr]
    waiting = session.scalars(select(Tenant).where(Tenant.id != connected.id)).one()
    assert waiting.status == TenantStatus.PENDING_VERIFICATION
    assert waiting.username_index is None


def test_a_verified_signup_goes_through_while_an_unverified_one_waits(
    app: Any, client: Any, session: Session
) -> None:
    use_verifier(app, unreachable)
    post_signup(client, api_password="Squatter#Pass2026")
    use_verifier(app, accepting)
    response = post_signup(client)
    assert response.status_code == 303
    statuses = sorted(t.status.value for t in session.scalars(select(Tenant)))
    assert statuses == ["active", "deleted"]
