"""Optional TOTP second factor: enrolment, then a code at every login, each code once."""

from __future__ import annotations

import re
import time
from typing import Any

import pyotp
from sqlalchemy.orm import Session
from support.admin import csrf_token, log_in

from billhive.config import Settings
from billhive.platform.admin import totp
from billhive.platform.admin.models import AdminUser
from billhive.tenants.vault import Vault


def _enrol(client: Any) -> str:
    page = client.get("/admin/account/totp").get_data(as_text=True)
    secret = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert secret
    assert "otpauth://totp/billhive:ops%40example.com?secret=" in page
    token = csrf_token(client, "/admin/account/totp")
    code = pyotp.TOTP(secret.group(1)).now()
    response = client.post("/admin/account/totp", data={"csrf_token": token, "code": code})
    assert response.status_code == 302
    return secret.group(1)


def _log_out(client: Any) -> None:
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})


def test_enrolment_with_a_valid_code_turns_two_factor_login_on(
    admin_client: Any, admin: AdminUser, session: Session
) -> None:
    _enrol(admin_client)
    session.expire_all()
    assert session.get(AdminUser, admin.id).totp_enabled  # type: ignore[union-attr]


def test_enrolment_with_a_wrong_code_keeps_it_off(
    admin_client: Any, admin: AdminUser, session: Session
) -> None:
    admin_client.get("/admin/account/totp")
    token = csrf_token(admin_client, "/admin/account/totp")
    response = admin_client.post(
        "/admin/account/totp", data={"csrf_token": token, "code": "000000"}
    )
    assert response.status_code == 400
    session.expire_all()
    assert not session.get(AdminUser, admin.id).totp_enabled  # type: ignore[union-attr]


def test_after_enrolment_the_password_alone_does_not_log_in(admin_client: Any) -> None:
    _enrol(admin_client)
    _log_out(admin_client)
    response = log_in(admin_client)
    assert response.headers["Location"] == "/admin/login/code"
    assert admin_client.get("/admin/").status_code == 302


def test_the_current_code_completes_the_login(admin_client: Any) -> None:
    secret = _enrol(admin_client)
    _log_out(admin_client)
    log_in(admin_client)
    token = csrf_token(admin_client, "/admin/login/code")
    # The enrolment used the current step already; the next one is valid too (window 1).
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    response = admin_client.post("/admin/login/code", data={"csrf_token": token, "code": code})
    assert response.status_code == 302
    assert admin_client.get("/admin/").status_code == 200


def test_a_wrong_code_is_refused(admin_client: Any) -> None:
    _enrol(admin_client)
    _log_out(admin_client)
    log_in(admin_client)
    token = csrf_token(admin_client, "/admin/login/code")
    response = admin_client.post("/admin/login/code", data={"csrf_token": token, "code": "123456"})
    assert response.status_code == 401
    assert admin_client.get("/admin/").status_code == 302


def test_a_code_is_accepted_only_once(
    session: Session, admin: AdminUser, settings: Settings
) -> None:
    vault = Vault.from_settings(settings)
    secret = totp.start_totp_enrolment(session, vault, admin).secret
    now = time.time()
    code = pyotp.TOTP(secret).at(int(now))
    assert totp.check_totp(session, vault, admin, code, now=now)
    assert not totp.check_totp(session, vault, admin, code, now=now)
