"""Fixtures of the admin dashboard tests: an admin, a logged-in client, tenants, calls."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.admin import Made, log_in
from support.factories import ADMIN_EMAIL, ADMIN_PASSWORD, add_admin

from billhive.config import Settings
from billhive.platform.admin.models import AdminUser
from billhive.tenants.vault import Vault


@pytest.fixture
def admin(session: Session) -> AdminUser:
    """A stored admin with a known password."""
    return add_admin(session, ADMIN_EMAIL, ADMIN_PASSWORD)


@pytest.fixture
def admin_client(client: Any, admin: AdminUser) -> Any:
    """A test client logged in as :func:`admin`."""
    response = log_in(client)
    assert response.status_code == 302, response.get_data(as_text=True)
    return client


@pytest.fixture
def made(session: Session, settings: Settings) -> Made:
    """Builders of tenants and calls."""
    return Made(session, Vault.from_settings(settings))
