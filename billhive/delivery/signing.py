"""Callback signatures: ``Billhive-Signature: t=<unix time>, v1=<hex HMAC-SHA256>``.

The HMAC is computed with the token's signing secret over ``"<t>.<raw body>"``. A
receiver recomputes it, compares in constant time and refuses a timestamp older than a
few minutes (replays). The signing secret is derived from the app's secret key and a
random salt stored with the token, so no secret is stored in the database; registering
the callback again draws a new salt, which changes the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "Billhive-Signature"
DELIVERY_HEADER = "Billhive-Delivery"
EVENT_HEADER = "Billhive-Event"
#: The stable id of a feed event (the same in every delivery and in the pull API).
EVENT_ID_HEADER = "Billhive-Event-Id"
SECRET_PREFIX = "whsec_"  # noqa: S105 - a prefix, not a secret
#: How old a signature's timestamp :func:`verify` accepts, in seconds.
DEFAULT_TOLERANCE = 300


def new_salt() -> str:
    """A fresh random salt for a token's signing secret."""
    return secrets.token_hex(16)


def signing_secret(secret_key: str, salt: str) -> str:
    """The signing secret of a callback: HMAC of the salt under the app's secret key."""
    digest = hmac.new(
        secret_key.encode("utf-8"), f"billhive.callback.{salt}".encode(), hashlib.sha256
    ).digest()
    return SECRET_PREFIX + base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def signature(secret: str, timestamp: int, body: bytes) -> str:
    """Hex HMAC-SHA256 of ``"<timestamp>.<body>"`` under ``secret``."""
    message = str(timestamp).encode("ascii") + b"." + body
    return hmac.new(secret.encode("utf-8"), message, hashlib.sha256).hexdigest()


def signature_header(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """The value of the :data:`SIGNATURE_HEADER` header for ``body``."""
    stamp = int(time.time()) if timestamp is None else timestamp
    return f"t={stamp}, v1={signature(secret, stamp, body)}"


def verify(
    secret: str,
    header: str,
    body: bytes,
    *,
    tolerance: int = DEFAULT_TOLERANCE,
    now: float | None = None,
) -> bool:
    """True when ``header`` is a valid, fresh signature of ``body`` (for receivers)."""
    parts: dict[str, list[str]] = {}
    for item in header.split(","):
        name, _, value = item.strip().partition("=")
        parts.setdefault(name, []).append(value)
    try:
        stamp = int(parts["t"][0])
    except (KeyError, ValueError):
        return False
    current = time.time() if now is None else now
    if abs(current - stamp) > tolerance:
        return False
    expected = signature(secret, stamp, body)
    return any(hmac.compare_digest(expected, given) for given in parts.get("v1", []))
