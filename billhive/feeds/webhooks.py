"""Billbee webhooks as the feeds' trigger: registration and removal (the receiving side,
the check of a post, is :mod:`billhive.feeds.receiver`).

Polling alone finds a change within the poll interval; a webhook brings it down to
seconds. When a tenant is active and has a feed on, :func:`sync_webhooks` (a cron job)
registers a webhook in the merchant's Billbee with a ``webhooks.create`` call in the
background lane: a per-tenant URL under ``BILLHIVE_PUBLIC_URL`` ending in a random token
and a per-tenant secret (48 characters; Billbee takes 32-64) sealed by the vault. A post
to that URL signed with the secret (``ms-signature: sha256=<hex HMAC-SHA256 of the body>``,
ASP.NET WebHooks' sender) only brings the tenant's next poll forward
(:func:`billhive.feeds.service.poll_now`): what changed is read from Billbee, never from
the post. A lost post costs latency, never a change (polling is the safety net).

Registration converges: a ``webhooks.create`` whose answer is lost (a timeout or a reset
after Billbee carried it out) may have left a webhook in the merchant's Billbee that
billhive does not know. So every registration first lists the tenant's webhooks
(``webhooks.list``) and deletes those pointing at billhive's receiver (``BILLHIVE_PUBLIC_URL``
+ ``/hooks/billbee/``) one by one, then creates its own: a lost answer costs one stray
webhook until the next registration, never a growing pile of them. The merchant's other
webhooks are left alone. A stray whose deletion fails (Billbee answers 404: it is gone
already; or any other failure) is passed over and the registration goes on to create, so
it always ends: forgetting the registration instead would list the same stray again and
fail on it again, forever.

Removal: a tenant whose feeds are all off gets a ``webhooks.delete`` call; a tenant that
is deleted or disabled cannot take calls any more (its credentials are shredded, or its
calls are refused), so :func:`remove_now` asks Billbee directly before that happens; a
paused tenant's calls wait, so pausing asks Billbee directly too. A post for a tenant
whose calls do not run (``lifecycle.runs_calls``: paused, credentials invalid) is
answered 200 and schedules nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from redis import Redis
from sqlalchemy import delete, exists, select
from sqlalchemy.orm import Session

from billhive.billbee.client import BillbeeClient
from billhive.billbee.envelope import BillbeeResponse
from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds.models import Feed, FeedWebhook, WebhookState
from billhive.feeds.receiver import SECRET_PURPOSE, receiver_url, url_digest
from billhive.logs import get_logger
from billhive.tenants.lifecycle import runs_calls, statuses_where, takes_calls
from billhive.tenants.models import Tenant
from billhive.tenants.service import open_credentials
from billhive.tenants.vault import Vault
from billhive.workers import payloads
from billhive.workers.calls import CallRejected, enqueue_call
from billhive.workers.models import Call, CallStatus, Lane
from billhive.workers.runtime import get_runtime

log = get_logger(__name__)

#: 48 URL-safe characters: within Billbee's 32-64.
SECRET_BYTES = 36
TOKEN_BYTES = 32
#: The filters asked for: every event (the post is only a signal to read the feeds).
FILTERS = ["*"]
LIST_CONSUMER = "billhive.feeds.webhooks:consume_listed"
STALE_CONSUMER = "billhive.feeds.webhooks:consume_stale_deleted"
CREATE_CONSUMER = "billhive.feeds.webhooks:consume_created"
DELETE_CONSUMER = "billhive.feeds.webhooks:consume_deleted"
#: Stray webhooks one registration deletes at most (Billbee's list is not paged).
STALE_MAX = 20
#: What a create call's body shows once it ran (the URL and secret are not kept there).
WITHHELD = "(withheld)"
#: Registrations or removals one tick may queue.
SYNC_BATCH = 50
#: A direct removal (before a tenant is deleted or disabled) waits at most this long.
REMOVE_TIMEOUT = 5.0
_ENDED = (CallStatus.FAILED, CallStatus.CANCELLED, CallStatus.UNKNOWN_OUTCOME)


@dataclass(frozen=True)
class SyncResult:
    """What one :func:`sync_webhooks` run did."""

    registering: int = 0
    removing: int = 0
    dropped: int = 0
    #: Stray webhooks of billhive's receiver whose deletion was queued.
    cleaning: int = 0


def _has_feed_on(tenant_column: Any) -> Any:
    return exists().where(Feed.tenant_id == tenant_column, Feed.enabled.is_(True))


def settle(session: Session) -> int:
    """Forget webhooks whose list, create or delete call ended without success (commits):
    a failed registration is made anew next time (listing first, so a webhook a lost
    answer left behind is deleted then), a failed removal is given up (a webhook left in
    Billbee posts to a URL that answers 404). A stray's deletion that ended without
    success only drops that stray (:func:`_pass_stale`). Returns how many."""
    rows = session.execute(
        select(FeedWebhook, Call)
        .join(Call, Call.id == FeedWebhook.call_id)
        .where(Call.status.in_([*_ENDED, CallStatus.SUCCEEDED]))
    ).all()
    for webhook, call in rows:
        # A registration that succeeded cleared call_id in its consumer, and a removal
        # that succeeded deleted the row: what is left here ended otherwise.
        if webhook.state is WebhookState.CLEANING and call.consumer == STALE_CONSUMER:
            _pass_stale(webhook, call)
            continue
        log.info("feed_webhook_call_ended", tenant_id=webhook.tenant_id, status=call.status)
        _withhold(session, call)
        session.delete(webhook)
    session.commit()
    return len(rows)


def _pass_stale(webhook: FeedWebhook, call: Call) -> None:
    """Go past a stray whose deletion ended without success, keeping the registration.

    Forgetting the row instead would list the same stray next time and fail on it again,
    two calls per cycle, never reaching the create. A 404 means the stray is gone already;
    any other end leaves it in Billbee, posting to a URL that answers 404, until a later
    registration's list finds it. Only the tenant id is logged, not the stray's id.
    """
    # _delete_stale always deletes the first id, and stale_ids stays as it was until
    # the call ends.
    webhook.stale_ids = (webhook.stale_ids or [])[1:]
    webhook.call_id = None
    if call.status is CallStatus.FAILED and call.http_status == 404:
        log.info("feed_webhook_stray_already_gone", tenant_id=webhook.tenant_id)
    else:
        log.warning(
            "feed_webhook_stray_left",
            tenant_id=webhook.tenant_id,
            status=call.status,
            http_status=call.http_status,
        )


def sync_webhooks(
    session: Session, redis: Redis, settings: Settings, vault: Vault, *, limit: int = SYNC_BATCH
) -> SyncResult:
    """Register webhooks of active tenants with a feed on, remove those of tenants whose
    feeds are all off, forget those of deleted or disabled tenants (commits)."""
    settle(session)
    dropped = session.execute(
        delete(FeedWebhook).where(
            FeedWebhook.tenant_id.in_(
                select(Tenant.id).where(
                    Tenant.status.in_(statuses_where(lambda status: not takes_calls(status)))
                )
            )
        )
    )
    session.commit()
    registering = removing = 0
    if settings.feed_webhooks:
        wanted = session.scalars(
            select(Tenant.id)
            .where(Tenant.status.in_(statuses_where(runs_calls)), _has_feed_on(Tenant.id))
            .where(~exists().where(FeedWebhook.tenant_id == Tenant.id))
            .order_by(Tenant.id)
            .limit(limit)
        ).all()
        for tenant_id in wanted:
            registering += _start_registration(session, redis, vault, tenant_id)
    cleaning = 0
    cleaned = session.scalars(
        select(FeedWebhook)
        .where(FeedWebhook.state == WebhookState.CLEANING, FeedWebhook.call_id.is_(None))
        .order_by(FeedWebhook.tenant_id)
        .limit(limit)
    ).all()
    for webhook in cleaned:
        if webhook.stale_ids:
            cleaning += _delete_stale(session, redis, vault, webhook)
        else:
            registering += _create(session, redis, settings, vault, webhook)
    unwanted = session.scalars(
        select(FeedWebhook)
        .join(Tenant, Tenant.id == FeedWebhook.tenant_id)
        .where(
            FeedWebhook.state == WebhookState.REGISTERED,
            Tenant.status.in_(statuses_where(runs_calls)),
            ~_has_feed_on(FeedWebhook.tenant_id),
        )
        .limit(limit)
    ).all()
    for webhook in unwanted:
        removing += _unregister(session, redis, vault, webhook)
    dropped_count = int(dropped.rowcount or 0)  # type: ignore[attr-defined]
    return SyncResult(registering, removing, dropped_count, cleaning)


def _start_registration(session: Session, redis: Redis, vault: Vault, tenant_id: int) -> int:
    """First step of a registration: list the tenant's webhooks in Billbee."""
    # A placeholder URL digest and secret until the create step makes the real ones.
    kek_id, sealed = vault.seal_secret(
        SECRET_PURPOSE, tenant_id, secrets.token_urlsafe(SECRET_BYTES)
    )
    webhook = FeedWebhook(
        tenant_id=tenant_id,
        url_digest=url_digest(secrets.token_urlsafe(TOKEN_BYTES)),
        kek_id=kek_id,
        secret_sealed=sealed,
        state=WebhookState.LISTING,
    )
    session.add(webhook)
    session.flush()
    return _queue(session, redis, vault, webhook, "webhooks.list", consumer=LIST_CONSUMER)


def _delete_stale(session: Session, redis: Redis, vault: Vault, webhook: FeedWebhook) -> int:
    """Delete one webhook of billhive's receiver that is not this registration's."""
    assert webhook.stale_ids
    params = {"id": webhook.stale_ids[0]}
    return _queue(
        session, redis, vault, webhook, "webhooks.delete", params=params, consumer=STALE_CONSUMER
    )


def _create(
    session: Session, redis: Redis, settings: Settings, vault: Vault, webhook: FeedWebhook
) -> int:
    """Last step of a registration: create the webhook with a new URL token and secret."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    webhook.url_digest = url_digest(token)
    webhook.kek_id, webhook.secret_sealed = vault.seal_secret(
        SECRET_PURPOSE, webhook.tenant_id, secret
    )
    webhook.state = WebhookState.REGISTERING
    webhook.stale_ids = None
    body = {
        "WebHookUri": receiver_url(settings, token),
        "Secret": secret,
        "Description": "billhive change feeds",
        "Filters": FILTERS,
        "IsPaused": False,
    }
    # Commits the row with the call: the receiver answers the echo check at once. The
    # URL and secret are withheld from the call's stored body once it ended (_withhold).
    return _queue(
        session, redis, vault, webhook, "webhooks.create", consumer=CREATE_CONSUMER, body=body
    )


def _queue(
    session: Session,
    redis: Redis,
    vault: Vault,
    webhook: FeedWebhook,
    operation: str,
    *,
    params: dict[str, Any] | None = None,
    consumer: str,
    body: Any = None,
) -> int:
    """Queue one step's call in the background lane and note it on the row (commits);
    returns 1, or 0 when the tenant's call was refused (the row is left as it was)."""
    tenant_id = webhook.tenant_id
    try:
        call = enqueue_call(
            tenant_id,
            operation,
            params,
            body=body,
            session=session,
            redis=redis,
            vault=vault,
            priority=Lane.BACKGROUND.value,
            consumer=consumer,
        )
    except CallRejected as exc:
        session.rollback()
        log.info("feed_webhook_call_refused", tenant_id=tenant_id, reason=str(exc))
        return 0
    webhook.call_id = call.id
    session.commit()
    log.info("feed_webhook_step", tenant_id=tenant_id, operation=operation, call_id=call.id)
    return 1


def _unregister(session: Session, redis: Redis, vault: Vault, webhook: FeedWebhook) -> int:
    tenant_id, billbee_id = webhook.tenant_id, webhook.billbee_id
    webhook.state = WebhookState.REMOVING
    session.flush()
    try:
        call = enqueue_call(
            tenant_id,
            "webhooks.delete",
            {"id": billbee_id},
            session=session,
            redis=redis,
            vault=vault,
            priority=Lane.BACKGROUND.value,
            consumer=DELETE_CONSUMER,
        )
    except CallRejected as exc:
        session.rollback()
        log.info("feed_webhook_not_removed", tenant_id=tenant_id, reason=str(exc))
        return 0
    webhook.call_id = call.id
    session.commit()
    return 1


def _withhold(session: Session, call: Call) -> None:
    """Drop the URL and secret from a create call's stored (sealed) body: they were sent,
    and the dashboard's call page shows bodies."""
    if call.operation != "webhooks.create":
        return
    key = payloads.key_for(session, get_runtime().vault, call.tenant_id)
    if key is None:
        return  # the tenant's key is gone: so is the body
    stored = payloads.open_call(key, call)
    if isinstance(stored.body, Mapping):
        body = {**stored.body, "WebHookUri": WITHHELD, "Secret": WITHHELD}
        payloads.seal_request(key, call, stored.params, body)


def _receiver_prefix() -> str:
    return receiver_url(get_runtime().settings, "")


def consume_listed(
    session: Session, call: Call, params: Mapping[str, Any], response: BillbeeResponse
) -> dict[str, Any]:
    """Consumer of the ``webhooks.list`` before a registration: note the webhooks that
    point at billhive's receiver (none of them is this registration's yet). Billbee's
    answer (which holds every webhook's secret) is not stored."""
    webhook = session.get(FeedWebhook, call.tenant_id)
    if webhook is None or webhook.call_id != call.id:
        return {"webhook": None, "ignored": "stale listing"}
    prefix = _receiver_prefix()
    stale: list[str] = []
    for item in response.data if isinstance(response.data, list) else []:
        if not isinstance(item, Mapping):
            continue
        uri, billbee_id = str(item.get("WebHookUri") or ""), str(item.get("Id") or "")
        token = uri[len(prefix) :]
        if uri.startswith(prefix) and billbee_id and url_digest(token) != webhook.url_digest:
            stale.append(billbee_id[:64])
    webhook.stale_ids = stale[:STALE_MAX]
    webhook.state = WebhookState.CLEANING
    webhook.call_id = None
    return {"webhook": "listed", "stale": len(stale)}


def consume_stale_deleted(
    session: Session, call: Call, params: Mapping[str, Any], response: BillbeeResponse
) -> dict[str, Any]:
    """Consumer of the deletion of a stray webhook: one fewer to delete."""
    webhook = session.get(FeedWebhook, call.tenant_id)
    if webhook is None or webhook.call_id != call.id:
        return {"webhook": None, "ignored": "stale clean-up"}
    deleted = str(params.get("id"))
    webhook.stale_ids = [i for i in webhook.stale_ids or [] if i != deleted]
    webhook.call_id = None
    return {"webhook": "stray removed", "tenant_id": call.tenant_id}


def consume_created(
    session: Session, call: Call, params: Mapping[str, Any], response: BillbeeResponse
) -> dict[str, Any]:
    """Consumer of a ``webhooks.create`` call: keep Billbee's id, never the echoed secret."""
    _withhold(session, call)
    webhook = session.get(FeedWebhook, call.tenant_id)
    if webhook is None or webhook.call_id != call.id:
        return {"webhook": None, "ignored": "stale registration"}
    data = response.data if isinstance(response.data, Mapping) else {}
    webhook.billbee_id = str(data.get("Id") or "")[:64] or None
    webhook.state = WebhookState.REGISTERED
    webhook.registered_at = utcnow()
    webhook.call_id = None
    return {"webhook": "registered", "tenant_id": call.tenant_id}


def consume_deleted(
    session: Session, call: Call, params: Mapping[str, Any], response: BillbeeResponse
) -> dict[str, Any]:
    """Consumer of a ``webhooks.delete`` call: the webhook is gone, so is its row."""
    webhook = session.get(FeedWebhook, call.tenant_id)
    if webhook is not None and webhook.call_id == call.id:
        session.delete(webhook)
    return {"webhook": "removed", "tenant_id": call.tenant_id}


def remove_now(session: Session, settings: Settings, vault: Vault, tenant_id: int) -> bool:
    """Remove the tenant's webhook from its Billbee at once and forget it (commits).

    For a tenant about to be deleted or disabled (neither can take a call afterwards)
    or just paused (its calls wait until it is resumed, which registers anew).
    Billbee not answering does not stop the deletion (the merchant wants out): the row
    is dropped anyway, so a webhook left behind posts to a URL that answers 404. Returns
    whether Billbee confirmed the removal.
    """
    webhook = session.get(FeedWebhook, tenant_id)
    if webhook is None:
        return False
    billbee_id = webhook.billbee_id
    session.delete(webhook)
    session.commit()
    if not billbee_id:
        return False
    try:
        credentials = open_credentials(session, vault, tenant_id)
        with BillbeeClient(
            settings.require("billbee_api_key"),
            credentials.username,
            credentials.password,
            base_url=settings.billbee_base_url,
            timeout=min(settings.billbee_timeout, REMOVE_TIMEOUT),
        ) as client:
            del credentials
            client.call("webhooks.delete", {"id": billbee_id})
    except Exception as exc:  # noqa: BLE001 - any failure leaves a harmless webhook behind
        log.warning("feed_webhook_remove_failed", tenant_id=tenant_id, error=type(exc).__name__)
        return False
    log.info("feed_webhook_removed", tenant_id=tenant_id)
    return True


def sync_feed_webhooks() -> int:
    """Cron job: register and remove webhooks as tenants and feeds change."""
    rt = get_runtime()
    with rt.database.session() as session:
        result = sync_webhooks(session, rt.redis, rt.settings, rt.vault)
    return result.registering + result.removing
