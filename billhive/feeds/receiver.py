"""The receiving side of the feeds' Billbee webhooks: each tenant's receiver URL and secret,
the check of a post, and what a valid post does (it brings the tenant's next poll
forward; what changed is read from Billbee, never from the post).

Billbee's sender is ASP.NET WebHooks': it signs the body with the webhook's secret
(``ms-signature: sha256=<hex HMAC-SHA256 of the body>``). Registration and removal live in
:mod:`billhive.feeds.webhooks`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds.models import FeedWebhook
from billhive.tenants.lifecycle import runs_calls
from billhive.tenants.links import public_base_url
from billhive.tenants.models import Tenant
from billhive.tenants.vault import Vault

#: The vault purpose of the webhook secrets (part of the sealed value's associated data).
SECRET_PURPOSE = "feed-webhook"  # noqa: S105 - a label, not a secret
#: Where the receiver listens; the URL token follows.
RECEIVER_PATH = "/hooks/billbee/"
#: The header ASP.NET WebHooks signs with, and the prefix of its value.
SIGNATURE_HEADER = "ms-signature"
SIGNATURE_PREFIX = "sha256="


class WebhookRefused(Exception):
    """A post or echo check is not accepted; ``status`` is the HTTP status to answer."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status


def url_digest(token: str) -> str:
    """The hex SHA-256 of a URL token (what the database keeps)."""
    return hashlib.sha256(token.encode()).hexdigest()


def receiver_url(settings: Settings, token: str) -> str:
    """The public URL of the receiver for ``token``."""
    return f"{public_base_url(settings)}{RECEIVER_PATH}{token}"


def sign(secret: str, body: bytes) -> str:
    """The ``ms-signature`` value of ``body`` under ``secret`` (as Billbee's sender makes it)."""
    return SIGNATURE_PREFIX + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def find(session: Session, token: str) -> FeedWebhook:
    """The webhook of a URL token; :class:`WebhookRefused` 404 for an unknown one."""
    if not token or len(token) > 128:
        raise WebhookRefused(404, "unknown webhook")
    found = session.scalars(
        select(FeedWebhook).where(FeedWebhook.url_digest == url_digest(token))
    ).one_or_none()
    if found is None:
        raise WebhookRefused(404, "unknown webhook")
    return found


def check_signature(vault: Vault, webhook: FeedWebhook, body: bytes, header: str | None) -> None:
    """Raise :class:`WebhookRefused` (401 missing, 403 wrong) unless ``header`` signs ``body``."""
    if not header:
        raise WebhookRefused(401, f"{SIGNATURE_HEADER} header missing")
    # ASP.NET WebHooks accepts several comma-separated signatures; one must match.
    offered = [part.strip() for part in header.split(",") if part.strip()]
    secret = vault.open_secret(
        SECRET_PURPOSE, webhook.tenant_id, webhook.kek_id, webhook.secret_sealed
    )
    expected = sign(secret, body).encode()
    del secret
    ok = False
    for value in offered[:4]:
        # Every candidate is compared in full: the time taken tells nothing.
        ok |= hmac.compare_digest(value.lower().encode(), expected)
    if not ok:
        raise WebhookRefused(403, "signature does not match")


def note_post(session: Session, webhook: FeedWebhook) -> int | None:
    """A valid post arrived: bring the tenant's next poll forward (commits); returns how
    many feeds will read now, or None when the tenant's calls do not run now (paused,
    credentials invalid, disabled...): the post is noted but schedules nothing, and the
    receiver still answers 200 so that Billbee does not send it again and again."""
    from billhive.feeds.service import poll_now

    webhook.last_received_at = utcnow()
    webhook.received += 1
    tenant = session.get(Tenant, webhook.tenant_id)
    if tenant is None or not runs_calls(tenant.status):
        session.commit()
        return None
    return poll_now(session, webhook.tenant_id)


class SealedWebhookSecrets:
    """The webhook secrets as ``billhive vault status`` and ``rotate`` see them."""

    label = "feed webhook secrets"

    def key_counts(self, session: Session) -> Mapping[str, int]:
        """How many secrets each vault key seals."""
        rows = session.execute(
            select(FeedWebhook.kek_id, func.count()).group_by(FeedWebhook.kek_id)
        )
        return {str(kek_id): count for kek_id, count in rows}

    def rotate(self, session: Session, vault: Vault) -> int:
        """Re-seal every secret not under the active key; returns how many (commits)."""
        stale = session.scalars(
            select(FeedWebhook).where(FeedWebhook.kek_id != vault.keyring.active_id)
        ).all()
        for webhook in stale:
            webhook.kek_id, webhook.secret_sealed = vault.reseal_secret(
                SECRET_PURPOSE, webhook.tenant_id, webhook.kek_id, webhook.secret_sealed
            )
        session.commit()
        return len(stale)
