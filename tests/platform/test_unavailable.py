"""While the database or Redis cannot be reached, requests get a 503 that says when to retry."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from billhive.config import Settings
from billhive.platform import create_app

UNREACHABLE_DB = "postgresql+psycopg://postgres@127.0.0.1:1/nowhere"


@pytest.fixture
def down_client(settings_factory: Callable[..., Settings]) -> Any:
    app = create_app(settings_factory(database_url=UNREACHABLE_DB))
    app.config.update(TESTING=True)
    return app.test_client()


def test_an_api_request_while_the_database_is_down_is_a_503_with_retry_after(
    down_client: Any,
) -> None:
    response = down_client.get(
        "/api/v1/tenants", headers={"Authorization": f"Bearer bh_{'0' * 16}_{'x' * 43}"}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"]["code"] == "service_unavailable"
    assert "Traceback" not in response.get_data(as_text=True)


def test_a_page_while_the_database_is_down_is_a_503_page(down_client: Any) -> None:
    response = down_client.get("/admin/login", headers={"Accept": "text/html"})
    assert response.status_code == 200  # the login form needs no database
    found = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', response.text)
    assert found is not None
    csrf = found.group(1)
    response = down_client.post(
        "/admin/login",
        data={"email": "a@example.com", "password": "x" * 12, "csrf_token": csrf},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Try again in a few seconds" in response.get_data(as_text=True)
