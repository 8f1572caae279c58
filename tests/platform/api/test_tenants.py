"""``/api/v1/tenants``: list, get, reconnect link; scoping to the token's tenants."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import urlsplit

from support.api import bearer

from billhive.config import Settings
from billhive.tenants.links import LinkPurpose, read_token
from billhive.tenants.models import Tenant, TenantStatus


def test_list_shows_every_tenant_for_an_unscoped_token(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    ids = [make_tenant().id for _ in range(3)]
    response = api("GET", "/api/v1/tenants")
    assert response.status_code == 200
    assert [t["id"] for t in response.json["items"]] == ids
    assert response.json["next_after"] is None


def test_list_pages_with_limit_and_after(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    ids = [make_tenant().id for _ in range(5)]
    first = api("GET", "/api/v1/tenants?limit=2").json
    assert [t["id"] for t in first["items"]] == ids[:2]
    second = api("GET", f"/api/v1/tenants?limit=2&after={first['next_after']}").json
    assert [t["id"] for t in second["items"]] == ids[2:4]
    last = api("GET", f"/api/v1/tenants?limit=2&after={second['next_after']}").json
    assert [t["id"] for t in last["items"]] == ids[4:]
    assert last["next_after"] is None


def test_list_filters_by_status(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    make_tenant()
    paused = make_tenant(TenantStatus.PAUSED)
    response = api("GET", "/api/v1/tenants?status=paused")
    assert [t["id"] for t in response.json["items"]] == [paused.id]


def test_list_with_an_unknown_status_is_400_naming_it(api: Callable[..., Any]) -> None:
    response = api("GET", "/api/v1/tenants?status=sleepy")
    assert response.status_code == 400
    assert response.json["error"]["field"] == "status"


def test_list_with_a_bad_limit_is_400_naming_it(api: Callable[..., Any]) -> None:
    for bad in ("0", "1000", "x", "-1", "9" * 30):
        response = api("GET", f"/api/v1/tenants?limit={bad}")
        assert response.status_code == 400, bad
        assert response.json["error"] == {
            "code": "invalid_query",
            "message": response.json["error"]["message"],
            "field": "limit",
        }


def test_a_scoped_token_lists_only_its_tenants(
    client: Any, make_tenant: Callable[..., Tenant], make_token: Callable[..., str]
) -> None:
    a, _b = make_tenant(), make_tenant()
    scoped = make_token(tenant_ids=[a.id])
    response = client.get("/api/v1/tenants", headers=bearer(scoped))
    assert [t["id"] for t in response.json["items"]] == [a.id]


def test_get_shows_the_tenant_without_any_credential(
    api: Callable[..., Any], tenant: Tenant
) -> None:
    response = api("GET", f"/api/v1/tenants/{tenant.id}")
    assert response.status_code == 200
    assert response.json["id"] == tenant.id
    assert response.json["status"] == "active"
    forbidden = {"username", "password", "api_password", "username_index", "credentials"}
    assert not forbidden & set(response.json)


def test_get_of_a_missing_tenant_is_404(api: Callable[..., Any]) -> None:
    for missing in (999999, 2**40):
        response = api("GET", f"/api/v1/tenants/{missing}")
        assert response.status_code == 404
        assert response.json["error"]["code"] == "tenant_not_found"


def test_a_token_for_tenant_a_cannot_read_tenant_b(
    client: Any, make_tenant: Callable[..., Tenant], make_token: Callable[..., str]
) -> None:
    a, b = make_tenant(), make_tenant()
    scoped = make_token(tenant_ids=[a.id])
    response = client.get(f"/api/v1/tenants/{b.id}", headers=bearer(scoped))
    assert response.status_code == 404
    assert response.json["error"]["code"] == "tenant_not_found"


def test_reconnect_link_is_a_valid_signed_link_for_the_tenant(
    api: Callable[..., Any], tenant: Tenant, settings: Settings
) -> None:
    response = api("POST", f"/api/v1/tenants/{tenant.id}/reconnect-link")
    assert response.status_code == 201
    path = urlsplit(response.json["url"]).path
    assert path.startswith("/signup/reconnect/")
    token = path.rsplit("/", 1)[-1]
    assert read_token(settings, LinkPurpose.RECONNECT, token) == tenant.id
    assert response.json["expires_at"]


def test_reconnect_link_for_a_deleted_tenant_is_409(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant]
) -> None:
    gone = make_tenant(TenantStatus.DELETED)
    response = api("POST", f"/api/v1/tenants/{gone.id}/reconnect-link")
    assert response.status_code == 409
    assert response.json["error"]["code"] == "tenant_cannot_reconnect"


def test_a_read_only_token_cannot_create_a_reconnect_link(
    client: Any, tenant: Tenant, make_token: Callable[..., str]
) -> None:
    reader = make_token(read_only=True)
    response = client.post(f"/api/v1/tenants/{tenant.id}/reconnect-link", headers=bearer(reader))
    assert response.status_code == 403


def test_reconnect_links_ignore_the_host_header_of_the_request(
    api: Callable[..., Any], tenant: Tenant, settings: Settings
) -> None:
    response = api(
        "POST", f"/api/v1/tenants/{tenant.id}/reconnect-link", headers={"Host": "evil.example"}
    )
    assert response.status_code == 201
    assert response.json["url"].startswith(
        f"http://{settings.web_host}:{settings.web_port}/signup/reconnect/"
    )


def test_a_reconnect_link_from_the_api_revokes_the_older_ones(
    api: Callable[..., Any], client: Any, tenant: Tenant
) -> None:
    first = api("POST", f"/api/v1/tenants/{tenant.id}/reconnect-link").json["url"]
    second = api("POST", f"/api/v1/tenants/{tenant.id}/reconnect-link").json["url"]
    assert client.get(urlsplit(first).path).status_code == 404
    assert client.get(urlsplit(second).path).status_code == 200
