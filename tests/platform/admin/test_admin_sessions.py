"""Admin sessions end when they should: logout, password reset and TOTP changes end every
session of the admin; idle and absolute lifetimes; one TOTP code logs in once; TOTP
secrets are sealed; what an attacker varies counts towards the lockout."""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from typing import Any

import pyotp
import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.orm import Session
from support.admin import ADMIN_EMAIL, ADMIN_PASSWORD, csrf_token, log_in

from billhive.config import Settings
from billhive.db import Database
from billhive.platform.admin import accounts, totp
from billhive.platform.admin.lockout import ACCOUNT_MAX_FAILURES
from billhive.platform.admin.models import TOTP_PURPOSE, AdminUser
from billhive.tenants.vault import Vault

SESSION_COOKIE = "session"


def _logged_in(client: Any) -> bool:
    return bool(client.get("/admin/").status_code == 200)


def _cookie_copy(app: Flask, client: Any) -> Any:
    """A second client holding a copy of ``client``'s session cookie (a stolen cookie)."""
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None
    thief = app.test_client()
    thief.set_cookie(SESSION_COOKIE, cookie.value)
    return thief


def _log_out(client: Any) -> None:
    response = client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert response.status_code == 302


def _enrol(client: Any) -> str:
    page = client.get("/admin/account/totp").get_data(as_text=True)
    found = re.search(r'<code id="totp-secret">([A-Z2-7]+)</code>', page)
    assert found
    token = csrf_token(client, "/admin/account/totp")
    code = pyotp.TOTP(found.group(1)).now()
    assert (
        client.post("/admin/account/totp", data={"csrf_token": token, "code": code}).status_code
        == 302
    )
    return found.group(1)


def _fresh(session: Session, admin: AdminUser) -> AdminUser:
    session.expire_all()
    found = session.get(AdminUser, admin.id)
    assert found is not None
    return found


# -- ending sessions -------------------------------------------------------------------


def test_a_cookie_copied_before_logout_no_longer_works_after_it(
    app: Flask, admin_client: Any
) -> None:
    thief = _cookie_copy(app, admin_client)
    assert _logged_in(thief)
    _log_out(admin_client)
    assert not _logged_in(thief)
    assert not _logged_in(admin_client)


def test_logout_ends_every_session_of_the_admin(app: Flask, admin: AdminUser) -> None:
    laptop, phone = app.test_client(), app.test_client()
    assert log_in(laptop).status_code == 302
    assert log_in(phone).status_code == 302
    _log_out(laptop)
    assert not _logged_in(phone)


def test_a_password_reset_ends_every_session_of_the_admin(
    admin_client: Any, admin: AdminUser, session: Session
) -> None:
    accounts.set_password(session, _fresh(session, admin), "a brand new password 42")
    assert not _logged_in(admin_client)
    assert log_in(admin_client, password="a brand new password 42").status_code == 302


def test_a_password_reset_between_password_and_code_ends_that_login(
    app: Flask, admin_client: Any, admin: AdminUser, session: Session
) -> None:
    secret = _enrol(admin_client)
    client = app.test_client()
    assert log_in(client).headers["Location"] == "/admin/login/code"
    accounts.set_password(session, _fresh(session, admin), ADMIN_PASSWORD)
    token = csrf_token(client, "/admin/login")
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    response = client.post("/admin/login/code", data={"csrf_token": token, "code": code})
    assert response.headers["Location"] == "/admin/login"
    assert not _logged_in(client)


def test_turning_two_factor_login_on_ends_the_other_sessions_but_not_this_one(
    app: Flask, admin_client: Any
) -> None:
    other = _cookie_copy(app, admin_client)
    _enrol(admin_client)
    assert _logged_in(admin_client)
    assert not _logged_in(other)


def test_a_forged_session_id_without_the_current_epoch_is_not_an_admin(
    client: Any, admin: AdminUser, session: Session
) -> None:
    accounts.end_all_sessions(session, _fresh(session, admin))
    for forged in (f"admin:{admin.id}", f"admin:{admin.id}:0", f"admin:{admin.id}:x"):
        with client.session_transaction() as cookie:
            cookie.update({"_user_id": forged, "_fresh": True, "admin_seen": int(time.time())})
            cookie["admin_started"] = int(time.time())
        assert not _logged_in(client), forged


# -- lifetimes -------------------------------------------------------------------------


def test_a_session_unused_for_the_idle_time_is_over(admin_client: Any, settings: Settings) -> None:
    with admin_client.session_transaction() as cookie:
        cookie["admin_seen"] = int(time.time() - settings.admin_idle_minutes * 60 - 1)
    assert not _logged_in(admin_client)


def test_a_session_ends_at_its_absolute_lifetime_however_active_the_admin_is(
    admin_client: Any, settings: Settings
) -> None:
    with admin_client.session_transaction() as cookie:
        cookie["admin_started"] = int(time.time() - settings.admin_session_hours * 3600 - 1)
    assert admin_client.get("/admin/").status_code == 302


def test_the_absolute_lifetime_comes_from_the_settings(
    settings_factory: Callable[..., Settings], admin: AdminUser
) -> None:
    from billhive.platform import create_app

    short = create_app(settings_factory(admin_session_hours=0.5)).test_client()
    assert log_in(short).status_code == 302
    with short.session_transaction() as cookie:
        cookie["admin_started"] = int(time.time() - 31 * 60)
    assert not _logged_in(short)


def test_polling_the_live_figures_does_not_keep_a_session_alive(
    admin_client: Any, settings: Settings
) -> None:
    almost_idle = int(time.time() - settings.admin_idle_minutes * 60 + 30)
    with admin_client.session_transaction() as cookie:
        cookie["admin_seen"] = almost_idle
    for _ in range(3):
        assert admin_client.get("/admin/live/overview").status_code == 200
    with admin_client.session_transaction() as cookie:
        assert cookie["admin_seen"] == almost_idle
        cookie["admin_seen"] = almost_idle - 31
    assert admin_client.get("/admin/live/overview").status_code == 401


def test_a_page_view_does_keep_the_session_alive(admin_client: Any, settings: Settings) -> None:
    almost_idle = int(time.time() - settings.admin_idle_minutes * 60 + 30)
    with admin_client.session_transaction() as cookie:
        cookie["admin_seen"] = almost_idle
    assert _logged_in(admin_client)
    with admin_client.session_transaction() as cookie:
        assert cookie["admin_seen"] > almost_idle


# -- turning two-factor login off ------------------------------------------------------


def _turn_off(client: Any, confirmation: str | None) -> Any:
    data = {"csrf_token": csrf_token(client, "/admin/account/totp")}
    if confirmation is not None:
        data["confirmation"] = confirmation
    return client.post("/admin/account/totp/off", data=data)


def test_turning_two_factor_login_off_needs_the_password_or_a_current_code(
    admin_client: Any, admin: AdminUser, session: Session
) -> None:
    _enrol(admin_client)
    for attempt in (None, "", "not the password", "123456"):
        _turn_off(admin_client, attempt)
        assert _fresh(session, admin).totp_enabled, attempt
    _turn_off(admin_client, ADMIN_PASSWORD)
    assert not _fresh(session, admin).totp_enabled
    assert _logged_in(admin_client)


def test_a_current_code_also_turns_two_factor_login_off_and_ends_other_sessions(
    app: Flask, admin_client: Any, admin: AdminUser, session: Session
) -> None:
    secret = _enrol(admin_client)
    other = _cookie_copy(app, admin_client)
    _turn_off(admin_client, pyotp.TOTP(secret).at(int(time.time()) + 30))
    assert not _fresh(session, admin).totp_enabled
    assert _logged_in(admin_client)
    assert not _logged_in(other)


def test_guessing_the_password_to_turn_two_factor_off_locks_the_account_and_ends_the_session(
    admin_client: Any, admin: AdminUser, session: Session
) -> None:
    _enrol(admin_client)
    for _ in range(ACCOUNT_MAX_FAILURES):
        _turn_off(admin_client, "a wrong guess")
    assert _fresh(session, admin).totp_enabled
    assert not _logged_in(admin_client)
    assert log_in(admin_client).status_code == 429


# -- one code, one login ---------------------------------------------------------------


def test_one_code_checked_by_two_requests_that_read_the_admin_at_once_logs_in_once(
    admin: AdminUser, database: Database, settings: Settings
) -> None:
    vault = Vault.from_settings(settings)
    with database.session() as setup:
        secret = totp.start_totp_enrolment(setup, vault, setup.get(AdminUser, admin.id))  # type: ignore[arg-type]
    now = time.time()
    code = pyotp.TOTP(secret.secret).at(int(now))
    # Two requests loaded the admin before either recorded the code (the race's interleaving).
    first, second = database.sessionmaker(), database.sessionmaker()
    try:
        seen_by_first, seen_by_second = (
            first.get(AdminUser, admin.id),
            second.get(AdminUser, admin.id),
        )
        assert seen_by_first is not None and seen_by_second is not None
        results = [
            totp.check_totp(first, vault, seen_by_first, code, now=now),
            totp.check_totp(second, vault, seen_by_second, code, now=now),
        ]
    finally:
        first.close()
        second.close()
    assert sorted(results) == [False, True]


def test_one_code_sent_by_many_concurrent_logins_completes_one(
    app: Flask, admin_client: Any, admin: AdminUser
) -> None:
    secret = _enrol(admin_client)
    code = pyotp.TOTP(secret).at(int(time.time()) + 30)
    clients = [app.test_client() for _ in range(6)]
    tokens = []
    for client in clients:
        assert log_in(client).headers["Location"] == "/admin/login/code"
        tokens.append(csrf_token(client, "/admin/login/code"))
    barrier = threading.Barrier(len(clients))
    statuses: list[int] = []

    def send(client: Any, token: str) -> None:
        barrier.wait()
        response = client.post("/admin/login/code", data={"csrf_token": token, "code": code})
        statuses.append(response.status_code)

    threads = [
        threading.Thread(target=send, args=pair) for pair in zip(clients, tokens, strict=True)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(statuses) == [302] + [401] * (len(clients) - 1)
    assert sum(_logged_in(c) for c in clients) == 1


# -- the secret at rest ----------------------------------------------------------------


def test_the_totp_secret_is_sealed_in_the_database(
    admin_client: Any, admin: AdminUser, session: Session, settings: Settings
) -> None:
    secret = _enrol(admin_client)
    rows = session.execute(text("SELECT * FROM admin_users")).all()
    dumped = repr(rows)
    assert secret not in dumped
    assert secret.lower() not in dumped.lower()
    found = _fresh(session, admin)
    assert found.totp_kek_id is not None and found.totp_secret_sealed is not None
    vault = Vault.from_settings(settings)
    opened = vault.open_secret(TOTP_PURPOSE, found.id, found.totp_kek_id, found.totp_secret_sealed)
    assert opened == secret


def test_a_sealed_totp_secret_moved_to_another_admin_does_not_open(
    admin: AdminUser, session: Session, settings: Settings
) -> None:
    vault = Vault.from_settings(settings)
    kek_id, sealed = vault.seal_secret(TOTP_PURPOSE, admin.id, pyotp.random_base32())
    from billhive.tenants.errors import VaultError

    with pytest.raises(VaultError):
        vault.open_secret(TOTP_PURPOSE, admin.id + 1, kek_id, sealed)


# -- what an attacker varies -----------------------------------------------------------


def test_wrong_codes_at_the_second_step_count_towards_the_accounts_lockout(
    app: Flask, admin_client: Any
) -> None:
    secret = _enrol(admin_client)
    _log_out(admin_client)
    assert log_in(admin_client).headers["Location"] == "/admin/login/code"
    token = csrf_token(admin_client, "/admin/login/code")
    statuses = [
        admin_client.post(
            "/admin/login/code", data={"csrf_token": token, "code": "000000"}
        ).status_code
        for _ in range(ACCOUNT_MAX_FAILURES)
    ]
    assert statuses[:-1] == [401] * (ACCOUNT_MAX_FAILURES - 1)
    right = pyotp.TOTP(secret).at(int(time.time()) + 30)
    locked = admin_client.post("/admin/login/code", data={"csrf_token": token, "code": right})
    assert locked.status_code == 429
    assert not _logged_in(admin_client)
    assert log_in(app.test_client()).status_code == 429


def test_failed_logins_under_other_capitalisations_of_one_email_count_against_one_account(
    client: Any, admin: AdminUser
) -> None:
    spellings = ["OPS@EXAMPLE.COM", "Ops@Example.com", " ops@example.com ", "oPs@eXaMpLe.CoM"]
    for n in range(ACCOUNT_MAX_FAILURES - 1):
        assert (
            log_in(client, email=spellings[n % len(spellings)], password="wrong").status_code == 401
        )
    assert log_in(client, email="OpS@ExAmPlE.cOm", password="wrong").status_code == 429
    assert log_in(client, email=ADMIN_EMAIL).status_code == 429
