"""Admin accounts: creation rules, the dev admin, and the ``billhive admin`` commands."""

from __future__ import annotations

from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.admin import log_in

from billhive.cli import main
from billhive.config import Settings
from billhive.platform.admin import accounts
from billhive.platform.admin.models import AdminUser


def test_the_password_is_stored_as_an_argon2_hash(session: Session) -> None:
    admin = accounts.create_admin(session, "A@Example.com", "a long enough password")
    assert admin.email == "a@example.com"
    assert admin.password_hash.startswith("$argon2id$")
    assert "a long enough password" not in repr(admin)


def test_a_short_password_is_refused(session: Session) -> None:
    with pytest.raises(accounts.AdminAccountError, match="at least 12 characters"):
        accounts.create_admin(session, "a@example.com", "short")


def test_a_second_admin_with_the_same_email_is_refused(session: Session) -> None:
    accounts.create_admin(session, "a@example.com", "a long enough password")
    with pytest.raises(accounts.AdminAccountError, match="exists already"):
        accounts.create_admin(session, "A@example.com", "another long password")


def test_the_dev_admin_is_made_once_and_can_log_in(client: Any, session: Session) -> None:
    made = accounts.ensure_dev_admin(session)
    assert made is not None
    email, password = made
    assert email == "admin@localhost"
    assert accounts.ensure_dev_admin(session) is None
    assert log_in(client, email=email, password=password).status_code == 302


def test_no_dev_admin_is_made_when_an_admin_exists(session: Session) -> None:
    accounts.create_admin(session, "a@example.com", "a long enough password")
    assert accounts.ensure_dev_admin(session) is None


def _env(settings: Settings) -> dict[str, str]:
    return {
        "BILLHIVE_DATABASE_URL": settings.effective_database_url,
        "BILLHIVE_REDIS_URL": settings.redis_url,
        "BILLHIVE_ENV": "test",
        "BILLHIVE_INSTANCE_PATH": str(settings.instance_path),
    }


def test_admin_create_prints_a_generated_password_that_works(
    settings: Settings, session: Session, client: Any
) -> None:
    result = CliRunner().invoke(
        main, ["admin", "create", "--email", "ops@example.com"], env=_env(settings)
    )
    assert result.exit_code == 0, result.output
    password = result.output.split("store it now): ", 1)[1].strip()
    assert log_in(client, email="ops@example.com", password=password).status_code == 302


def test_admin_create_refuses_a_duplicate_with_a_message(
    settings: Settings, session: Session
) -> None:
    accounts.create_admin(session, "ops@example.com", "a long enough password")
    result = CliRunner().invoke(
        main, ["admin", "create", "--email", "ops@example.com"], env=_env(settings)
    )
    assert result.exit_code == 1
    assert "exists already" in result.output
    assert len(session.scalars(select(AdminUser)).all()) == 1
