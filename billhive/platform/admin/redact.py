"""Belt and braces for the call page: blank any value under a secret-sounding key.

Call rows never hold credentials by design (jobs carry ids; credentials are opened inside
the job); this guards the page against a future careless caller all the same.
"""

from __future__ import annotations

from typing import Any

#: Lower-case key fragments whose values are never shown.
SECRET_KEY_PARTS = ("password", "secret", "apikey", "api_key", "authorization", "token")
REDACTED = "[redacted]"


def _is_secret(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return any(part in name for part in SECRET_KEY_PARTS)


def redacted(value: Any) -> Any:
    """``value`` with every secret-keyed entry replaced, at any depth."""
    if isinstance(value, dict):
        return {k: REDACTED if _is_secret(k) else redacted(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redacted(item) for item in value]
    return value
