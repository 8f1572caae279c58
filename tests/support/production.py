"""Secrets strong enough for production mode, for tests that run the app as production."""

from __future__ import annotations

import base64
import secrets


def _key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def production_secrets() -> dict[str, str]:
    """Fresh random secret settings that production's checks accept (never printed)."""
    return {
        "secret_key": secrets.token_urlsafe(48),
        "billbee_api_key": secrets.token_hex(18),
        "vault_keys": f"k1:{_key()}",
        "blind_index_key": _key(),
    }
