"""The health endpoint and the landing page."""

from typing import Any

from billhive.config import Settings
from billhive.platform import create_app


def test_landing_page_says_what_billhive_is(client: Any) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert b"One Billbee developer key, many merchants" in response.data


def test_healthz_reports_database_and_redis_reachable(client: Any) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {
        "status": "ok",
        "checks": {"database": {"ok": True}, "redis": {"ok": True}},
    }


def test_healthz_is_503_naming_redis_when_redis_is_down(settings: Settings) -> None:
    broken = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    response = create_app(broken).test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"]["ok"] is False
    assert response.json["checks"]["database"]["ok"] is True


def test_unknown_page_is_a_friendly_404_not_a_trace(client: Any) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert b"Traceback" not in response.data
    assert b"Not Found" in response.data
