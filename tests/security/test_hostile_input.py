"""Every route of the app, from its url_map, under each class of hostile input: no 5xx,
no secret or traceback in any answer, and no protected route answering 2xx to a request
without valid credentials."""

from __future__ import annotations

import time
from typing import Any

import pytest
from itsdangerous import URLSafeTimedSerializer
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.hostile import Findings, Route, Target, argument_kinds, csrf_of, routes

from billhive.tenants.links import LinkPurpose, make_token
from billhive.tenants.models import AuditEvent, Tenant, TenantCredentials
from billhive.workers.models import Call

FORM = {"reason": "x", "confirm": "1", "email": "a@b.c", "password": "p", "code": "123456"}
JSON_BODY = {"operation": "orders.list", "url": "https://erp.example/hook", "items": []}


def _send(client: Any, route: Route, url: str, **kwargs: Any) -> Any:
    if route.method in ("POST", "PUT") and "data" not in kwargs and "json" not in kwargs:
        kwargs["json" if route.is_api else "data"] = JSON_BODY if route.is_api else FORM
    return client.open(url, method=route.method, **kwargs)


def _walk(target: Target, client: Any, label: str, *, refused: bool, **kwargs: Any) -> Findings:
    findings = Findings()
    for route in routes(target.app):
        response = _send(client, route, target.url(route), **kwargs)
        findings.check(
            f"{label} {route}", response, target.secrets, refused=refused and route.protected
        )
    return findings


def _state(session: Session) -> tuple[Any, ...]:
    """What a refused request must leave as it was."""
    session.expire_all()
    counts = tuple(
        session.scalar(select(func.count()).select_from(model))
        for model in (Tenant, TenantCredentials, AuditEvent, Call)
    )
    statuses = tuple(session.scalars(select(Tenant.status).order_by(Tenant.id)))
    calls = tuple(session.scalars(select(Call.status).order_by(Call.id)))
    return counts, statuses, calls


def test_the_walk_covers_every_route_of_the_app(target: Target) -> None:
    walked = {route.endpoint for route in routes(target.app)}
    assert {"admin.overview", "api.enqueue", "signup.form", "metrics.metrics"} <= walked
    assert len(walked) == len({rule.endpoint for rule in target.app.url_map.iter_rules()})


# -- authentication: missing, forged, expired ------------------------------------------


def test_no_route_fails_or_leaks_without_any_credentials(target: Target) -> None:
    findings = _walk(target, target.app.test_client(), "anonymous", refused=True)
    assert list(findings) == []


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer bh_0123456789abcdef_" + "A" * 43,
        "Bearer bh_0123456789abcdef_' OR '1'='1",
        "Bearer " + "x" * 5000,
        "Basic b3BzQGV4YW1wbGUuY29tOnBhc3N3b3Jk",
        "Bearer",
        "Bearer \u00e9\u00e9",
    ],
)
def test_no_route_fails_leaks_or_opens_for_a_forged_token(
    target: Target, authorization: str
) -> None:
    headers = {"Authorization": authorization}
    findings = _walk(
        target, target.app.test_client(), "forged token", refused=True, headers=headers
    )
    assert list(findings) == []


@pytest.mark.parametrize("secret", ["another-secret-key-" + "z" * 40, None])
def test_no_route_fails_leaks_or_opens_for_a_forged_session_cookie(
    target: Target, secret: str | None
) -> None:
    client = target.app.test_client()
    payload = {"_user_id": "admin:1:0", "_fresh": True, "admin_seen": int(time.time())}
    payload["admin_started"] = int(time.time())
    if secret is None:
        cookie = "eyJfdXNlcl9pZCI6ImFkbWluOjE6MCJ9.forged.signature"
    else:
        cookie = URLSafeTimedSerializer(secret, salt="cookie-session").dumps(payload)
    client.set_cookie("session", cookie)
    findings = _walk(target, client, "forged session", refused=True)
    assert list(findings) == []


def test_no_route_fails_leaks_or_opens_for_an_expired_admin_session(
    target: Target, admin_client: Any
) -> None:
    hours = target.app.extensions["billhive"].settings.admin_session_hours
    with admin_client.session_transaction() as cookie:
        cookie["admin_started"] = int(time.time() - hours * 3600 - 5)
    findings = _walk(target, admin_client, "expired session", refused=True)
    assert list(findings) == []


def test_no_route_fails_leaks_or_opens_for_a_revoked_token(target: Target) -> None:
    headers = {"Authorization": f"Bearer {target.ids['revoked_token']}"}
    findings = _walk(
        target, target.app.test_client(), "revoked token", refused=True, headers=headers
    )
    assert list(findings) == []


def test_expired_and_forged_links_open_nothing(
    target: Target, settings: Any, monkeypatch: Any
) -> None:
    client = target.app.test_client()
    issued = time.time() - 90 * 86400
    monkeypatch.setattr("itsdangerous.timed.time.time", lambda: issued)
    expired = {
        "reconnect": make_token(settings, LinkPurpose.RECONNECT, int(target.ids["tenant_id"]), 1),
        "leave": make_token(settings, LinkPurpose.LEAVE, int(target.ids["tenant_id"])),
    }
    monkeypatch.undo()
    findings = Findings()
    for kind, token in [*expired.items(), ("reconnect", "forged"), ("leave", "a.b.c")]:
        for method in ("GET", "POST"):
            response = client.open(
                f"/signup/{kind}/{token}", method=method, data={"api_password": "x"}
            )
            findings.check(f"{method} {kind} link", response, target.secrets, refused=False)
            if response.status_code not in (400, 404):
                findings.problems.append(f"{method} {kind} link answered {response.status_code}")
    assert list(findings) == []


# -- CSRF ------------------------------------------------------------------------------


def test_no_form_post_without_its_csrf_token_changes_anything(
    target: Target, admin_client: Any, session: Session
) -> None:
    before = _state(session)
    findings = Findings()
    for route in routes(target.app):
        if route.method != "POST" or route.is_api or route.is_webhook:
            # The JSON API is token-authenticated, Billbee's webhook posts are signed:
            # no cookie, no CSRF (tests/platform/test_feedhooks.py checks the signature).
            continue
        response = _send(admin_client, route, target.url(route))
        findings.check(f"no CSRF {route}", response, target.secrets, refused=False)
        if response.status_code != 400:
            findings.problems.append(f"no CSRF {route}: answered {response.status_code}")
    assert list(findings) == []
    assert _state(session) == before
    assert admin_client.get("/admin/").status_code == 200  # not even logged out


# -- oversized bodies ------------------------------------------------------------------


def test_oversized_bodies_are_refused_with_413_everywhere(
    target: Target, admin_client: Any, session: Session
) -> None:
    before = _state(session)
    token = {"Authorization": f"Bearer {target.ids['api_token']}"}
    big = "x" * (2 * 1024 * 1024)
    findings = Findings()
    for route in routes(target.app):
        if route.method not in ("POST", "PUT"):
            continue
        client = admin_client if route.endpoint.startswith("admin.") else target.app.test_client()
        kwargs: dict[str, Any] = {"headers": token} if route.is_api else {}
        for body in ({"data": {"reason": big}}, {"data": big, "content_type": "application/json"}):
            response = _send(client, route, target.url(route), **kwargs, **body)
            findings.check(f"oversized {route}", response, target.secrets, refused=False)
            if response.status_code != 413:
                findings.problems.append(f"oversized {route}: answered {response.status_code}")
    assert list(findings) == []
    assert _state(session) == before


# -- path traversal and odd path values ------------------------------------------------

TRAVERSALS = [
    "..",
    "../../../../etc/passwd",
    "..%2F..%2F..%2Fbillhive%2Fconfig.py",
    "%2e%2e%2f%2e%2e%2fconfig.py",
    "....//....//config.py",
    "..\\..\\config.py",
    "%00",
    "a%00.css",
    "%C0%AE%C0%AE%2F",
    "-1",
    "99999999999999999999999999",
    "9223372036854775807",
    "x" * 4000,
    "%E2%80%AE",
]


def test_no_route_fails_or_leaks_with_traversal_in_its_path_arguments(
    target: Target, admin_client: Any
) -> None:
    token = {"Authorization": f"Bearer {target.ids['api_token']}"}
    findings = Findings()
    for route in routes(target.app):
        kinds = argument_kinds(route)
        if not kinds:
            continue
        client = admin_client if route.endpoint.startswith("admin.") else target.app.test_client()
        for name in kinds:
            for value in TRAVERSALS:
                url = target.url(route, **{name: value})
                response = _send(client, route, url, headers=token if route.is_api else {})
                findings.check(
                    f"{route} {name}={value[:20]}", response, target.secrets, refused=False
                )
                body = response.get_data()
                if (
                    kinds[name] == "path"
                    and response.status_code == 200
                    and (b"BILLHIVE_" in body or b"root:" in body or b"import " in body)
                ):
                    findings.problems.append(f"{route} {name}={value[:20]}: served a file outside")
    assert list(findings) == []


# -- header injection ------------------------------------------------------------------

CRLF = "%0d%0aX-Injected:%20yes%0d%0aSet-Cookie:%20injected=1"
QUERY_NAMES = [
    "next",
    "q",
    "status",
    "sort",
    "page",
    "before",
    "after",
    "limit",
    "tenant",
    "operation",
    "actor",
    "action",
    "since",
    "until",
    "lang",
]


def _injected(response: Any) -> bool:
    header_text = str(response.headers).lower()
    return "x-injected" in header_text or "injected=1" in header_text


def test_no_route_reflects_injected_headers_or_a_foreign_host(
    target: Target, admin_client: Any
) -> None:
    token = {"Authorization": f"Bearer {target.ids['api_token']}"}
    findings = Findings()
    for route in routes(target.app):
        client = admin_client if route.endpoint.startswith("admin.") else target.app.test_client()
        base = target.url(route)
        query = "&".join(f"{name}={CRLF}" for name in QUERY_NAMES)
        headers = {
            "Host": "evil.example",
            "X-Forwarded-Host": "evil.example",
            "X-Forwarded-Proto": "https",
            "Accept-Language": "de;q=1%0d%0aX-Injected: yes",
            "Referer": "https://evil.example/",
            **(token if route.is_api else {}),
        }
        if route.endpoint.startswith("admin."):
            cookie = admin_client.get_cookie("session")
            client.set_cookie("session", cookie.value, domain="evil.example")
        response = _send(client, route, f"{base}?{query}", headers=headers)
        findings.check(f"injection {route}", response, target.secrets, refused=False)
        if _injected(response):
            findings.problems.append(f"injection {route}: a header was injected")
        if "evil.example" in response.get_data(as_text=True) + response.headers.get("Location", ""):
            findings.problems.append(f"injection {route}: reflects the foreign host")
    assert list(findings) == []


def test_path_values_with_line_breaks_inject_no_header(target: Target) -> None:
    client = target.app.test_client()
    findings = Findings()
    for route in routes(target.app):
        for name in argument_kinds(route):
            response = _send(client, route, target.url(route, **{name: CRLF}))
            findings.check(f"{route} {name}=CRLF", response, target.secrets, refused=False)
            if _injected(response):
                findings.problems.append(f"{route} {name}: a header was injected")
    assert list(findings) == []


def test_the_language_switch_never_redirects_off_site(target: Target) -> None:
    client = target.app.test_client()
    for next_url in ("//evil.example/", "https://evil.example/", "/\\evil.example", f"/{CRLF}"):
        response = client.get(f"/language/de?next={next_url}")
        assert response.status_code < 500
        location = response.headers.get("Location", "")
        assert "evil.example" not in location and not _injected(response), next_url


def test_a_valid_admin_and_token_walk_every_route_with_hostile_queries_without_failing(
    target: Target, admin_client: Any
) -> None:
    token = {"Authorization": f"Bearer {target.ids['api_token']}"}
    csrf = csrf_of(admin_client, "/admin/")
    findings = Findings()
    hostile = ["-1", "0", "10" * 20, "<script>", "' OR 1=1 --", "\u0000", "%ff", "1e999", "[]"]
    for route in routes(target.app):
        if route.endpoint in ("admin.logout", "admin.delete", "admin.totp_disable"):
            continue  # walked above; here they would end the session the walk uses
        client = admin_client if route.endpoint.startswith("admin.") else target.app.test_client()
        for value in hostile:
            query = "&".join(f"{name}={value}" for name in QUERY_NAMES)
            data = {**FORM, "csrf_token": csrf, "q": value, "reason": value}
            kwargs: dict[str, Any] = {"headers": token} if route.is_api else {"data": data}
            if route.is_api and route.method in ("POST", "PUT"):
                kwargs["json"] = {"operation": value, "params": {"id": value}, "url": value}
            response = _send(client, route, f"{target.url(route)}?{query}", **kwargs)
            findings.check(
                f"hostile query {route} {value!r}", response, target.secrets, refused=False
            )
    assert list(findings) == []
