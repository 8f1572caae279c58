"""Authentication, read-only tokens, logging by token id, and the JSON error shape."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.api import bearer
from support.app import override_settings

from billhive.logs import configure_logging
from billhive.platform.api.tokens import revoke_token
from billhive.tenants.models import Tenant


def test_a_request_without_a_token_is_401_missing_token(client: Any) -> None:
    response = client.get("/api/v1/tenants")
    assert response.status_code == 401
    assert response.json["error"]["code"] == "missing_token"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "Bearer bh_nope", "bearer  "])
def test_a_request_with_a_bad_authorization_header_is_401(client: Any, header: str) -> None:
    response = client.get("/api/v1/tenants", headers={"Authorization": header})
    assert response.status_code == 401
    assert response.json["error"]["code"] in {"missing_token", "invalid_token"}


def test_a_revoked_token_is_401_invalid_token(client: Any, session: Session, token: str) -> None:
    revoke_token(session, token.split("_")[1])
    response = client.get("/api/v1/tenants", headers=bearer(token))
    assert response.status_code == 401
    assert response.json["error"]["code"] == "invalid_token"


def test_a_read_only_token_may_read(
    client: Any, make_token: Callable[..., str], tenant: Tenant
) -> None:
    reader = make_token(read_only=True)
    response = client.get(f"/api/v1/tenants/{tenant.id}", headers=bearer(reader))
    assert response.status_code == 200


def test_a_read_only_token_may_not_enqueue(
    client: Any, make_token: Callable[..., str], tenant: Tenant
) -> None:
    reader = make_token(read_only=True)
    response = client.post(
        f"/api/v1/tenants/{tenant.id}/calls",
        headers=bearer(reader),
        json={"operation": "orders.list"},
    )
    assert response.status_code == 403
    assert response.json["error"]["code"] == "read_only_token"


def test_every_request_is_logged_with_the_token_id_and_never_the_token(
    api: Callable[..., Any], token: str, tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    # The processes' own logging set-up: structlog through stdlib logging.
    configure_logging("INFO", json=True)
    logging.getLogger().addHandler(caplog.handler)  # configure_logging replaced the handlers
    with caplog.at_level(logging.INFO, logger="billhive.api"):
        api("GET", f"/api/v1/tenants/{tenant.id}")
    entries = [
        r.msg
        for r in caplog.records
        if isinstance(r.msg, dict) and r.msg.get("event") == "api_request"
    ]
    assert len(entries) == 1
    assert isinstance(entries[0]["token_id"], int)
    assert entries[0]["status"] == 200
    everything = repr([r.__dict__ for r in caplog.records])
    assert token not in everything
    assert token.split("_", 2)[2] not in everything  # the secret part (it may hold "_")


def test_an_unknown_api_route_answers_json_404(api: Callable[..., Any]) -> None:
    response = api("GET", "/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "not_found"


def test_a_wrong_method_answers_json_405(api: Callable[..., Any]) -> None:
    response = api("DELETE", "/api/v1/tenants")
    assert response.status_code == 405
    assert response.json["error"]["code"] == "method_not_allowed"


def test_a_body_over_the_size_limit_answers_json_413(
    api: Callable[..., Any], tenant: Tenant
) -> None:
    big = b'{"operation": "orders.list", "body": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = api(
        "POST",
        f"/api/v1/tenants/{tenant.id}/calls",
        data=big,
        content_type="application/json",
    )
    assert response.status_code == 413
    assert response.json["error"]["code"] == "payload_too_large"


def test_the_rate_limit_is_per_token_and_answers_429_json(
    app: Any, make_token: Callable[..., str], tenant: Tenant
) -> None:
    override_settings(app, api_rate_limit="3 per minute")
    client = app.test_client()
    busy, other = make_token("busy"), make_token("other")
    statuses = [client.get("/api/v1/tenants", headers=bearer(busy)).status_code for _ in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = client.get("/api/v1/tenants", headers=bearer(busy))
    assert limited.json["error"]["code"] == "rate_limited"
    assert limited.headers["Retry-After"] == "60"
    assert client.get("/api/v1/tenants", headers=bearer(other)).status_code == 200


def test_a_revoked_token_stops_working_once_its_cache_entry_expires(
    app: Any, session: Session, token: str
) -> None:
    override_settings(app, api_token_cache_seconds=0)
    client = app.test_client()
    assert client.get("/api/v1/tenants", headers=bearer(token)).status_code == 200
    revoke_token(session, token.split("_")[1])
    assert client.get("/api/v1/tenants", headers=bearer(token)).status_code == 401


def test_a_checked_token_is_trusted_from_the_cache_for_its_ttl(
    app: Any, session: Session, token: str
) -> None:
    override_settings(app, api_token_cache_seconds=3600)
    client = app.test_client()
    assert client.get("/api/v1/tenants", headers=bearer(token)).status_code == 200
    revoke_token(session, token.split("_")[1])
    # Within API_TOKEN_CACHE_SECONDS this process still trusts what it checked.
    assert client.get("/api/v1/tenants", headers=bearer(token)).status_code == 200
