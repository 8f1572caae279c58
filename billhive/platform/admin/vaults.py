"""The app's vault for the dashboard (blind-index lookups of usernames only)."""

from __future__ import annotations

from flask import current_app

from billhive.platform.extensions import settings
from billhive.tenants.vault import Vault

_KEY = "billhive.admin.vault"


def vault() -> Vault:
    """The vault built from the app's settings, once per app."""
    found = current_app.extensions.get(_KEY)
    if found is None:
        found = Vault.from_settings(settings())
        current_app.extensions[_KEY] = found
    assert isinstance(found, Vault)
    return found
