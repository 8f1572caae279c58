"""Who gets into the dashboard: login, session cookie, merchants and forged sessions, logout."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, csrf_token, log_in

from billhive.platform.admin.auth import PUBLIC_ENDPOINTS
from billhive.platform.admin.models import AdminUser
from billhive.tenants.models import AuditEvent


def _admin_urls(app: Flask) -> list[tuple[str, str]]:
    """(method, url) of every admin route, with 1 for each path argument."""
    found = []
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("admin.") or rule.endpoint in PUBLIC_ENDPOINTS:
            continue
        url = rule.rule
        for argument in rule.arguments:
            url = url.replace(f"<int:{argument}>", "1").replace(f"<{argument}>", "1")
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((method, url))
    return found


def test_the_admin_blueprint_has_the_pages_the_tests_walk(app: Flask) -> None:
    urls = {url for _method, url in _admin_urls(app)}
    assert {"/admin/", "/admin/tenants", "/admin/tenants/1", "/admin/calls", "/admin/audit"} <= urls


def test_every_admin_page_sends_anonymous_visitors_to_the_login(app: Flask, client: Any) -> None:
    for method, url in _admin_urls(app):
        if method != "GET":
            continue
        response = client.get(url)
        if url.startswith("/admin/live/"):
            assert response.status_code == 401, url
        else:
            assert response.status_code == 302, url
            assert response.headers["Location"].startswith("/admin/login"), url


def test_every_admin_action_refuses_anonymous_visitors_even_with_a_valid_csrf_token(
    app: Flask, client: Any
) -> None:
    token = csrf_token(client)
    for method, url in _admin_urls(app):
        if method != "POST":
            continue
        response = client.post(url, data={"csrf_token": token, "confirm": "1"})
        assert response.status_code == 401, url


def test_a_session_with_a_bare_user_id_is_not_an_admin(client: Any, admin: AdminUser) -> None:
    with client.session_transaction() as session:
        session["_user_id"] = str(admin.id)
        session["_fresh"] = True
    response = client.get("/admin/tenants")
    assert response.status_code == 302


def test_login_with_the_right_password_opens_the_overview(client: Any, admin: AdminUser) -> None:
    response = log_in(client)
    assert response.status_code == 302
    assert response.headers["Location"] == "/admin/"
    assert "Overview" in client.get("/admin/").get_data(as_text=True)


def test_the_session_cookie_is_httponly_and_samesite(client: Any, admin: AdminUser) -> None:
    response = log_in(client)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie


def test_the_session_cookie_is_secure_in_production(production_settings: Any) -> None:
    from billhive.platform import create_app

    app = create_app(production_settings)
    assert app.config["SESSION_COOKIE_SECURE"] is True


def test_a_wrong_password_is_refused_without_saying_which_part_was_wrong(
    client: Any, admin: AdminUser
) -> None:
    response = log_in(client, password="not the password")
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_an_unknown_email_gets_the_same_answer_as_a_wrong_password(
    client: Any, admin: AdminUser
) -> None:
    response = log_in(client, email="nobody@example.com")
    assert response.status_code == 401
    assert "Wrong e-mail or password." in response.get_data(as_text=True)


def test_login_without_a_csrf_token_is_refused(client: Any, admin: AdminUser) -> None:
    response = client.post("/admin/login", data={"email": ADMIN_EMAIL, "password": ADMIN_PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_login_goes_back_to_the_page_asked_for(client: Any, admin: AdminUser) -> None:
    token = csrf_token(client, "/admin/login?next=/admin/calls")
    response = client.post(
        "/admin/login",
        data={
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "csrf_token": token,
            "next": "/admin/calls",
        },
    )
    assert response.headers["Location"] == "/admin/calls"


def test_login_never_redirects_to_another_site(client: Any, admin: AdminUser) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        data={
            "email": ADMIN_EMAIL,
            "password": ADMIN_PASSWORD,
            "csrf_token": token,
            "next": "//evil.example/admin",
        },
    )
    assert response.headers["Location"] == "/admin/"


def test_login_with_line_breaks_or_backslashes_in_next_goes_to_the_overview(
    client: Any, admin: AdminUser
) -> None:
    for target in ("/admin/calls\r\nX-Injected: yes", "/admin\\..\\evil", "/admin/\x7f"):
        token = csrf_token(client)
        response = client.post(
            "/admin/login",
            data={
                "email": ADMIN_EMAIL,
                "password": ADMIN_PASSWORD,
                "csrf_token": token,
                "next": target,
            },
        )
        assert response.status_code == 302, target
        assert response.headers["Location"] == "/admin/"
        assert "X-Injected" not in response.headers


def test_logout_ends_the_session(admin_client: Any) -> None:
    token = csrf_token(admin_client, "/admin/")
    response = admin_client.post("/admin/logout", data={"csrf_token": token})
    assert response.status_code == 302
    assert admin_client.get("/admin/").status_code == 302


def test_logout_without_a_csrf_token_keeps_the_session(admin_client: Any) -> None:
    response = admin_client.post("/admin/logout")
    assert response.status_code == 400
    assert admin_client.get("/admin/").status_code == 200


def test_logins_and_failures_are_in_the_audit_log(
    client: Any, admin: AdminUser, session: Session
) -> None:
    log_in(client, password="wrong password")
    log_in(client)
    actions = session.scalars(select(AuditEvent.action).order_by(AuditEvent.id)).all()
    assert actions == ["admin_login_failed", "admin_logged_in"]


def test_a_deactivated_admin_loses_the_session(admin_client: Any, session: Session) -> None:
    found = session.scalars(select(AdminUser)).one()
    found.active = False
    session.commit()
    assert admin_client.get("/admin/").status_code == 302
