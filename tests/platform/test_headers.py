"""Security headers on every response: CSP, frame protection, nosniff, referrer, HSTS."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.signup import GOOD_PASSWORD, accepting, csrf_token, signup_fields, use_verifier

from billhive.config import Settings
from billhive.platform import create_app
from billhive.tenants.links import make_leave_url, make_reconnect_url
from billhive.tenants.service import SignupRequest, sign_up
from billhive.tenants.vault import Vault

TEMPLATES = Path(__file__).resolve().parents[2] / "billhive" / "platform" / "templates"
PAGES = ["/", "/signup", "/admin/login", "/api/docs", "/api/v1/openapi.json", "/healthz"]


@pytest.fixture
def tenant_id(settings: Settings, session: Session) -> int:
    """A signed-up tenant, for its link pages."""
    request = SignupRequest("Shop", "o@example.de", "owner@shop.test", GOOD_PASSWORD)
    return sign_up(session, Vault.from_settings(settings), request, verify=lambda u, p: None).id


def _path(url: str) -> str:
    return "/" + url.split("/", 3)[3]


@pytest.mark.parametrize("path", [*PAGES, "/no-such-page", "/api/v1/tenants"])
def test_every_answer_carries_the_content_security_policy_and_frame_protection(
    client: Any, path: str
) -> None:
    headers = client.get(path).headers
    policy = headers.get("Content-Security-Policy", "")
    for directive in (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ):
        assert directive in policy
    assert "unsafe" not in policy
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", PAGES)
def test_ordinary_pages_send_the_referrer_only_to_this_site(client: Any, path: str) -> None:
    assert client.get(path).headers["Referrer-Policy"] == "same-origin"


def test_link_pages_send_no_referrer_at_all(
    client: Any, settings: Settings, session: Session, tenant_id: int
) -> None:
    reconnect_url = make_reconnect_url(session, settings, tenant_id)
    for url in (reconnect_url, make_leave_url(settings, tenant_id)):
        response = client.get(_path(url))
        assert response.status_code == 200
        assert response.headers["Referrer-Policy"] == "no-referrer"


def test_an_invalid_link_page_sends_no_referrer_either(client: Any) -> None:
    response = client.get("/signup/reconnect/forged-token")
    assert response.status_code == 404
    assert response.headers["Referrer-Policy"] == "no-referrer"


def test_hsts_is_sent_in_production_only(client: Any, production_settings: Settings) -> None:
    assert "Strict-Transport-Security" not in client.get("/").headers
    production = create_app(production_settings).test_client()
    hsts = production.get("/", base_url="https://billhive.example.com").headers
    assert hsts["Strict-Transport-Security"] == "max-age=31536000"


def test_no_template_has_inline_script_style_or_event_handler() -> None:
    offenders = []
    for template in TEMPLATES.rglob("*.html"):
        text = template.read_text(encoding="utf-8")
        inline = (
            re.findall(r"<script(?![^>]*\ssrc=)[^>]*>", text)
            + re.findall(r"<style[\s>]", text)
            + re.findall(r"\sstyle=\"", text)
            + re.findall(r"\son[a-z]+=\"", text)
            + re.findall(r"javascript:", text)
        )
        if inline:
            offenders.append((template.name, inline))
    assert offenders == []


def test_a_link_page_form_posted_over_https_without_a_referrer_is_accepted(
    app: Any, client: Any, settings: Settings, session: Session, tenant_id: int
) -> None:
    use_verifier(app, accepting)
    https = {"base_url": "https://localhost"}
    path = _path(make_reconnect_url(session, settings, tenant_id))
    token = csrf_token(client, path, **https)
    response = client.post(
        path, data={"csrf_token": token, "api_password": "Fresh#Password2026"}, **https
    )
    assert response.status_code == 200
    assert "Connected again" in response.get_data(as_text=True)


def test_a_link_page_form_without_its_csrf_token_is_refused_over_https(
    client: Any, settings: Settings, tenant_id: int
) -> None:
    path = _path(make_leave_url(settings, tenant_id))
    response = client.post(path, data={}, base_url="https://localhost")
    assert response.status_code == 400
    assert "The form has expired" in response.get_data(as_text=True)


def test_other_forms_posted_over_https_still_need_a_referrer_from_this_site(
    app: Any, client: Any
) -> None:
    verifier = use_verifier(app, accepting)
    https = {"base_url": "https://localhost"}
    data = {**signup_fields(), "csrf_token": csrf_token(client, "/signup", **https)}
    refused = client.post("/signup", data=data, **https)
    assert refused.status_code == 400
    assert verifier.calls == 0
    accepted = client.post(
        "/signup", data=data, headers={"Referer": "https://localhost/signup"}, **https
    )
    assert accepted.status_code == 303
