"""Error answers of every endpoint that the endpoint-specific tests do not reach."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.api import bearer

from billhive.db import utcnow
from billhive.platform.api import idempotency
from billhive.platform.api.errors import ApiError
from billhive.tenants.models import Tenant
from billhive.tokens.models import ApiToken, IdempotencyKey


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("POST", "/api/v1/tenants/999999/reconnect-link", 404, "tenant_not_found"),
        ("GET", "/api/v1/tenants/999999/calls", 404, "tenant_not_found"),
        ("POST", "/api/v1/calls/999999/cancel", 404, "call_not_found"),
        ("GET", "/api/v1/callback/deliveries?limit=0", 400, "invalid_query"),
        ("GET", "/api/v1/callback/deliveries?after=x", 400, "invalid_query"),
        ("GET", "/api/v1/tenants?after=99999999999", 400, "invalid_query"),
        ("PUT", "/api/v1/callback", 400, "invalid_json"),
    ],
)
def test_error_answers_carry_the_documented_status_and_code(
    api: Callable[..., Any], db: Any, method: str, path: str, status: int, code: str
) -> None:
    response = api(method, path)
    assert response.status_code == status, response.json
    assert response.json["error"]["code"] == code
    assert response.json["error"]["message"]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/api/v1/callback"),
        ("DELETE", "/api/v1/callback"),
        ("POST", "/api/v1/calls/1/cancel"),
        ("POST", "/api/v1/tenants/1/stock"),
    ],
)
def test_a_read_only_token_is_refused_every_write(
    client: Any, make_token: Callable[..., str], method: str, path: str
) -> None:
    reader = make_token(read_only=True)
    response = client.open(path, method=method, headers=bearer(reader), json={})
    assert response.status_code == 403
    assert response.json["error"]["code"] == "read_only_token"


def test_a_put_with_a_non_object_body_is_422(api: Callable[..., Any], db: Any) -> None:
    response = api("PUT", "/api/v1/callback", json=["https://a.example/"])
    assert response.status_code == 422
    assert response.json["error"]["code"] == "validation_failed"


def _claim(session: Session, token_id: int, key: str, age: timedelta) -> None:
    session.add(
        IdempotencyKey(
            token_id=token_id,
            key=key,
            request_hash="h",
            call_ids=[],
            created_at=utcnow() - age,
        )
    )
    session.commit()


def test_a_retry_while_the_first_request_still_runs_is_409(
    session: Session, token: str, tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    token_id = session.scalars(select(ApiToken)).one().id
    _claim(session, token_id, "busy", timedelta(seconds=0))
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.05)
    with pytest.raises(ApiError) as raised:
        idempotency.run_once(session, token_id, "busy", "h", lambda: [])
    assert raised.value.status == 409
    assert raised.value.code == "conflict"


def test_a_claim_left_by_a_dead_request_is_taken_over(
    session: Session, token: str, tenant: Tenant
) -> None:
    token_id = session.scalars(select(ApiToken)).one().id
    _claim(session, token_id, "dead", idempotency.STALE_AFTER + timedelta(seconds=5))
    calls, replayed = idempotency.run_once(session, token_id, "dead", "h", lambda: [])
    assert (calls, replayed) == ([], False)
    row = session.scalars(select(IdempotencyKey).where(IdempotencyKey.key == "dead")).one()
    assert row.created_at > utcnow() - timedelta(minutes=1)
