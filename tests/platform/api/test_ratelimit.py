"""The per-token rate limit of the JSON API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from limits.storage import MemoryStorage, RedisStorage
from support.api import bearer
from support.app import override_settings

from billhive.platform.api.ratelimit import RateLimited, TokenRateLimit
from billhive.tenants.models import Tenant


def test_a_tokens_requests_to_every_endpoint_count_against_one_limit(
    app: Any, make_token: Callable[..., str], tenant: Tenant
) -> None:
    override_settings(app, api_rate_limit="3 per minute")
    client = app.test_client()
    token = bearer(make_token())
    assert client.get("/api/v1/tenants", headers=token).status_code == 200
    assert client.get(f"/api/v1/tenants/{tenant.id}", headers=token).status_code == 200
    assert client.get(f"/api/v1/tenants/{tenant.id}/calls", headers=token).status_code == 200
    assert client.get(f"/api/v1/tenants/{tenant.id}", headers=token).status_code == 429


def test_retry_after_says_when_the_oldest_request_leaves_the_window(
    app: Any, make_token: Callable[..., str]
) -> None:
    override_settings(app, api_rate_limit="2 per 10 seconds")
    client = app.test_client()
    token = bearer(make_token())
    client.get("/api/v1/tenants", headers=token)
    time.sleep(1.2)
    client.get("/api/v1/tenants", headers=token)
    limited = client.get("/api/v1/tenants", headers=token)
    assert limited.status_code == 429
    assert limited.headers["Retry-After"] == "9"


def test_the_request_over_a_limit_is_refused_naming_the_limit() -> None:
    limit = TokenRateLimit(MemoryStorage())
    limit.check("2 per minute;100 per hour", "api-token:someone")
    limit.check("2 per minute;100 per hour", "api-token:someone")
    with pytest.raises(RateLimited) as refused:
        limit.check("2 per minute;100 per hour", "api-token:someone")
    assert "2 per 1 minute" in refused.value.message
    assert refused.value.headers["Retry-After"] == "60"


def test_requests_pass_when_the_counting_store_is_unreachable() -> None:
    limit = TokenRateLimit(RedisStorage("redis://127.0.0.1:1/0", socket_connect_timeout=1))
    for _ in range(3):
        limit.check("1 per minute", "api-token:someone")  # no RateLimited raised


def _forged(token: str) -> str:
    """A well-formed token with the same public id as ``token`` and another secret."""
    prefix, public_id, _secret = token.split("_", 2)
    return f"{prefix}_{public_id}_{'A' * 43}"


def test_forged_tokens_with_a_public_id_do_not_spend_that_tokens_quota(
    app: Any, make_token: Callable[..., str]
) -> None:
    override_settings(app, api_rate_limit="3 per minute")
    client = app.test_client()
    victim = make_token()
    for n in range(5):
        attacker = {"REMOTE_ADDR": f"203.0.113.{n}"}
        forged = client.get(
            "/api/v1/tenants", headers=bearer(_forged(victim)), environ_base=attacker
        )
        assert forged.status_code == 401
    assert client.get("/api/v1/tenants", headers=bearer(victim)).status_code == 200


def test_failed_authentications_are_limited_per_client_address(app: Any) -> None:
    override_settings(app, api_auth_failure_limit="3 per minute")
    client = app.test_client()
    attacker = {"REMOTE_ADDR": "203.0.113.7"}
    attempts = [
        {},
        {"Authorization": "Bearer not-a-token"},
        bearer("bh_0123456789abcdef_" + "B" * 43),
    ]
    statuses = [
        client.get("/api/v1/tenants", headers=h, environ_base=attacker).status_code
        for h in attempts
    ]
    assert statuses == [401, 401, 401]
    refused = client.get("/api/v1/tenants", headers=attempts[2], environ_base=attacker)
    assert refused.status_code == 429
    assert refused.json["error"]["code"] == "rate_limited"
    assert int(refused.headers["Retry-After"]) > 0
    other = client.get("/api/v1/tenants", environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert other.status_code == 401


def test_a_valid_tokens_requests_do_not_count_as_failures_of_its_address(
    app: Any, make_token: Callable[..., str]
) -> None:
    override_settings(app, api_auth_failure_limit="2 per minute")
    client = app.test_client()
    token = bearer(make_token())
    for _ in range(5):
        assert client.get("/api/v1/tenants", headers=token).status_code == 200
    assert client.get("/api/v1/tenants").status_code == 401
