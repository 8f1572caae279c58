"""Lockout after repeated failed logins: per account and per client address."""

from __future__ import annotations

from typing import Any

from redis import Redis
from support.admin import log_in

from billhive.platform.admin.lockout import (
    ACCOUNT_MAX_FAILURES,
    ADDRESS_MAX_FAILURES,
    Lockout,
)
from billhive.platform.admin.models import AdminUser


def test_the_account_is_locked_after_too_many_wrong_passwords(
    client: Any, admin: AdminUser
) -> None:
    for _ in range(ACCOUNT_MAX_FAILURES - 1):
        assert log_in(client, password="wrong password").status_code == 401
    response = log_in(client, password="wrong password")
    assert response.status_code == 429
    assert "It is locked until" in response.get_data(as_text=True)


def test_a_locked_account_refuses_even_the_right_password(client: Any, admin: AdminUser) -> None:
    for _ in range(ACCOUNT_MAX_FAILURES):
        log_in(client, password="wrong password")
    response = log_in(client)
    assert response.status_code == 429
    assert "UTC" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_successful_login_clears_the_accounts_failures(client: Any, admin: AdminUser) -> None:
    for _ in range(ACCOUNT_MAX_FAILURES - 1):
        log_in(client, password="wrong password")
    assert log_in(client).status_code == 302
    assert log_in(client, password="wrong password").status_code == 401


def test_one_address_guessing_many_accounts_is_locked(client: Any, admin: AdminUser) -> None:
    for n in range(ADDRESS_MAX_FAILURES - 1):
        assert log_in(client, email=f"guess{n}@example.com").status_code == 401
    response = log_in(client, email="last-guess@example.com")
    assert response.status_code == 429
    assert "from your address" in response.get_data(as_text=True)
    assert log_in(client).status_code == 429


def test_unlock_lets_the_account_log_in_again(
    client: Any, admin: AdminUser, redis_client: Redis
) -> None:
    for _ in range(ACCOUNT_MAX_FAILURES):
        log_in(client, password="wrong password")
    Lockout(redis_client).unlock(admin.email)
    assert log_in(client).status_code == 302


def test_lockout_keys_in_redis_name_no_email(
    client: Any, admin: AdminUser, redis_client: Redis
) -> None:
    log_in(client, password="wrong password")
    keys = [key.decode() for key in redis_client.keys("billhive:admin:*")]
    assert keys
    assert not any("ops@example.com" in key or "127.0.0.1" in key for key in keys)
