"""``/hooks/billbee/<token>``: Billbee's webhook posts only bring a tenant's poll forward."""

from __future__ import annotations

import json
import secrets
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.factories import add_tenant

from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds.models import Feed, FeedWebhook, Resource, WebhookState
from billhive.feeds.receiver import SECRET_PURPOSE, sign, url_digest
from billhive.feeds.service import switch_on
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault

BODY = json.dumps(
    {"Id": "n1", "Attempt": 1, "Properties": {}, "Notifications": [{"Action": "OrderStateChanged"}]}
).encode()


class Hook:
    """A tenant with an orders feed polled far in the future and a registered webhook."""

    def __init__(self, session: Session, settings: Settings) -> None:
        tenant = add_tenant(session, Vault.from_settings(settings), status=TenantStatus.ACTIVE)
        session.commit()
        self.tenant_id = tenant.id
        feed = switch_on(session, tenant.id, [Resource.ORDERS])[0]
        feed.next_poll_at = utcnow() + timedelta(hours=1)
        self.token = secrets.token_urlsafe(32)
        self.secret = secrets.token_urlsafe(36)
        kek_id, sealed = Vault.from_settings(settings).seal_secret(
            SECRET_PURPOSE, tenant.id, self.secret
        )
        session.add(
            FeedWebhook(
                tenant_id=tenant.id,
                url_digest=url_digest(self.token),
                kek_id=kek_id,
                secret_sealed=sealed,
                state=WebhookState.REGISTERED,
                billbee_id="wh1",
            )
        )
        session.commit()
        self.session = session

    @property
    def url(self) -> str:
        return f"/hooks/billbee/{self.token}"

    def poll_brought_forward(self) -> bool:
        self.session.expire_all()
        feed = self.session.scalars(select(Feed).where(Feed.tenant_id == self.tenant_id)).one()
        return feed.next_poll_at <= utcnow()


@pytest.fixture
def hook(session: Session, settings: Settings) -> Hook:
    return Hook(session, settings)


def test_a_validly_signed_post_brings_the_tenants_poll_forward(client: Any, hook: Hook) -> None:
    response = client.post(hook.url, data=BODY, headers={"ms-signature": sign(hook.secret, BODY)})
    assert response.status_code == 200, response.data
    assert hook.poll_brought_forward()
    row = hook.session.get(FeedWebhook, hook.tenant_id)
    assert row is not None and row.received == 1 and row.last_received_at is not None


@pytest.mark.parametrize("status", [TenantStatus.PAUSED, TenantStatus.CREDENTIALS_INVALID])
def test_a_post_for_a_tenant_whose_calls_do_not_run_is_answered_200_and_schedules_nothing(
    client: Any, hook: Hook, status: TenantStatus
) -> None:
    tenant = hook.session.get(Tenant, hook.tenant_id)
    assert tenant is not None
    tenant.status = status
    hook.session.commit()
    response = client.post(hook.url, data=BODY, headers={"ms-signature": sign(hook.secret, BODY)})
    # Not an error: Billbee would send the post again and again.
    assert response.status_code == 200 and response.get_json() == {"accepted": False}
    assert not hook.poll_brought_forward()


def test_a_post_of_any_shape_is_only_a_signal(client: Any, hook: Hook) -> None:
    body = b"not json at all"
    response = client.post(hook.url, data=body, headers={"ms-signature": sign(hook.secret, body)})
    assert response.status_code == 200
    assert hook.poll_brought_forward()


def test_a_post_without_a_signature_is_401_and_schedules_nothing(client: Any, hook: Hook) -> None:
    response = client.post(hook.url, data=BODY)
    assert response.status_code == 401
    assert not hook.poll_brought_forward()


@pytest.mark.parametrize(
    "signature",
    [
        "sha256=" + "0" * 64,
        "sha256=nothex",
        "sha1=abc",
        "garbage",
    ],
)
def test_a_post_with_a_wrong_signature_is_403_and_schedules_nothing(
    client: Any, hook: Hook, signature: str
) -> None:
    response = client.post(hook.url, data=BODY, headers={"ms-signature": signature})
    assert response.status_code == 403
    assert not hook.poll_brought_forward()


def test_a_signature_of_another_body_or_secret_is_refused(client: Any, hook: Hook) -> None:
    other_body = client.post(
        hook.url, data=BODY, headers={"ms-signature": sign(hook.secret, BODY + b" ")}
    )
    other_secret = client.post(hook.url, data=BODY, headers={"ms-signature": sign("x" * 48, BODY)})
    assert (other_body.status_code, other_secret.status_code) == (403, 403)
    assert not hook.poll_brought_forward()


def test_an_unknown_url_is_404(client: Any, hook: Hook) -> None:
    body = BODY
    response = client.post(
        "/hooks/billbee/" + secrets.token_urlsafe(32),
        data=body,
        headers={"ms-signature": sign(hook.secret, body)},
    )
    assert response.status_code == 404
    assert client.get("/hooks/billbee/nope?echo=abc").status_code == 404
    assert not hook.poll_brought_forward()


def test_the_echo_check_answers_the_value(client: Any, hook: Hook) -> None:
    response = client.get(f"{hook.url}?echo=a1b2c3")
    assert response.status_code == 200
    assert response.data == b"a1b2c3" and response.mimetype == "text/plain"
    assert not hook.poll_brought_forward()


def test_an_echo_check_without_a_value_is_400(client: Any, hook: Hook) -> None:
    assert client.get(hook.url).status_code == 400
    assert client.get(f"{hook.url}?echo=" + "x" * 300).status_code == 400


def test_posts_beyond_the_rate_limit_of_a_url_are_429(
    settings_factory: Any, session: Session
) -> None:
    from billhive.platform import create_app

    settings = settings_factory(feed_webhook_rate_limit="2 per minute")
    hook = Hook(session, settings)
    client = create_app(settings).test_client()
    headers = {"ms-signature": sign(hook.secret, BODY)}
    codes = [client.post(hook.url, data=BODY, headers=headers).status_code for _ in range(3)]
    assert codes == [200, 200, 429]


def test_the_receiver_needs_no_csrf_token(app: Any, hook: Hook) -> None:
    app.config.update(WTF_CSRF_ENABLED=True)
    client = app.test_client()
    response = client.post(hook.url, data=BODY, headers={"ms-signature": sign(hook.secret, BODY)})
    assert response.status_code == 200
