"""The per-token rate limit of the JSON API."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest
from conftest import bearer
from limits.storage import MemoryStorage, RedisStorage

from billhive.platform.api.ratelimit import RateLimited, TokenRateLimit
from billhive.tenants.models import Tenant


def test_a_tokens_requests_to_every_endpoint_count_against_one_limit(
    app: Any, make_token: Callable[..., str], tenant: Tenant
) -> None:
    app.config["API_RATE_LIMIT"] = "3 per minute"
    client = app.test_client()
    token = bearer(make_token())
    assert client.get("/api/v1/tenants", headers=token).status_code == 200
    assert client.get(f"/api/v1/tenants/{tenant.id}", headers=token).status_code == 200
    assert client.get(f"/api/v1/tenants/{tenant.id}/calls", headers=token).status_code == 200
    assert client.get(f"/api/v1/tenants/{tenant.id}", headers=token).status_code == 429


def test_retry_after_says_when_the_oldest_request_leaves_the_window(
    app: Any, make_token: Callable[..., str]
) -> None:
    app.config["API_RATE_LIMIT"] = "2 per 10 seconds"
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
