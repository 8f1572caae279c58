"""The signed send: one POST of one delivery to its token's callback URL.

The job POSTs the signed payload; any answer but 2xx (or no answer) raises, so RQ retries
it with backoff for a little over a day, then the delivery is marked failed. Delivery is
at least once: a receiver deduplicates by the delivery id header.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.delivery.egress import (
    AddressRefused,
    EgressPolicy,
    PinnedTransport,
    Resolver,
    system_resolver,
)
from billhive.delivery.models import CallbackDelivery, DeliveryStatus
from billhive.delivery.payloads import calls_json
from billhive.delivery.signing import (
    DELIVERY_HEADER,
    EVENT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    signature_header,
    signing_secret,
)
from billhive.feeds.models import FeedEvent
from billhive.logs import get_logger
from billhive.tenants.vault import Vault
from billhive.tokens.models import ApiToken
from billhive.workers.models import FINAL_STATUSES, Call
from billhive.workers.runtime import get_runtime

#: Waits between attempts: 10 s, 30 s, 1 min, 5 min, 15 min, 30 min, 1 h, 2 h, 4 h, then
#: 6 h three times: the last attempt is about 26 hours after the first.
RETRY_INTERVALS = [10, 30, 60, 300, 900, 1800, 3600, 7200, 14400, 21600, 21600, 21600]
MAX_ATTEMPTS = 1 + len(RETRY_INTERVALS)
TIMEOUT_SECONDS = 10.0
EVENT = "call.finished"
USER_AGENT = "billhive-callbacks/1"
#: What the delivery log says for every attempt that got no HTTP answer: refused by the
#: egress policy, connection refused, timed out, DNS or TLS failure alike, so that the
#: log tells a token holder nothing about the network behind billhive.
NO_ANSWER = "no HTTP answer (connection failed or timed out)"

log = get_logger(__name__)


class CallbackFailed(RuntimeError):
    """The receiver did not accept a delivery; raised so RQ tries again later."""


def deliver_callback(delivery_id: int) -> str:
    """RQ job: POST one delivery; raises :class:`CallbackFailed` so RQ retries it.

    Uses the worker process's runtime (settings, database pool, vault).
    """
    runtime = get_runtime()
    return run_delivery(runtime.settings, runtime.database, delivery_id, vault=runtime.vault)


def delivery_client(
    settings: Settings, *, resolver: Resolver = system_resolver, verify: Any = True
) -> httpx.Client:
    """The HTTP client of one delivery: egress-checked and pinned (see ``egress.py``), no
    redirects, no proxy from the environment, its own connection pool.

    ``resolver`` and ``verify`` (an ``ssl.SSLContext``) are for tests that stand in for
    DNS or a private certificate authority; the checks are the same.
    """
    transport = PinnedTransport(
        EgressPolicy.from_settings(settings), resolver=resolver, verify=verify
    )
    return httpx.Client(
        transport=transport, timeout=TIMEOUT_SECONDS, follow_redirects=False, trust_env=False
    )


def _prepare(
    settings: Settings, session: Session, delivery: CallbackDelivery, vault: Vault | None
) -> tuple[bytes, str, dict[str, str]] | DeliveryStatus:
    """The body, signing secret and event headers, or the status to settle on without
    sending."""
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.CANCELLED):
        return delivery.status
    token = session.get(ApiToken, delivery.token_id)
    if (
        token is None
        or token.revoked_at is not None
        or token.callback_url != delivery.url
        or not token.callback_salt
    ):
        return DeliveryStatus.CANCELLED
    payload: dict[str, Any]
    if delivery.feed_event_id is not None:
        event = session.get(FeedEvent, delivery.feed_event_id)
        if event is None:
            return DeliveryStatus.CANCELLED  # purged past its retention
        kind = event.type.value
        payload = {"event": kind, "delivery_id": delivery.id, "data": event.as_json()}
        headers = {EVENT_HEADER: kind, EVENT_ID_HEADER: event.event_id}
    else:
        call = session.get(Call, delivery.call_id)
        if call is None or call.status not in FINAL_STATUSES:
            return DeliveryStatus.CANCELLED
        # Opened here, for this send only: the delivery log keeps no payload.
        vault = vault or Vault.from_settings(settings)
        shown = calls_json(session, vault, [call])[0]
        payload = {"event": EVENT, "delivery_id": delivery.id, "call": shown}
        headers = {EVENT_HEADER: EVENT}
    body = json.dumps(payload, separators=(",", ":"), sort_keys=True).encode("utf-8")
    return body, signing_secret(settings.require("secret_key"), token.callback_salt), headers


def run_delivery(
    settings: Settings,
    database: Database,
    delivery_id: int,
    client: httpx.Client | None = None,
    *,
    vault: Vault | None = None,
) -> str:
    """Send delivery ``delivery_id`` once and record the attempt; returns its status.

    ``client`` defaults to a fresh :func:`delivery_client` (closed afterwards). ``vault``
    opens a call's sealed payload: the worker passes its runtime's, which parsed the
    keyring once; without one (a script, a test) it is made from ``settings`` when a
    call's payload needs opening.
    """
    if client is None:
        with delivery_client(settings) as own:
            return run_delivery(settings, database, delivery_id, own, vault=vault)
    with database.session() as session:
        delivery = session.get(CallbackDelivery, delivery_id)
        if delivery is None:
            return "missing"
        prepared = _prepare(settings, session, delivery, vault)
        if isinstance(prepared, DeliveryStatus):
            delivery.status = prepared
            return prepared.value
        url = delivery.url
    body, secret, event_headers = prepared
    # No database transaction is open while the receiver takes its time.
    headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        **event_headers,
        DELIVERY_HEADER: str(delivery_id),
        SIGNATURE_HEADER: signature_header(secret, body),
    }
    status_code: int | None = None
    error: str | None = None
    try:
        response = client.post(url, content=body, headers=headers)
        status_code = response.status_code
        if not 200 <= status_code < 300:
            error = f"HTTP {status_code}"
    except httpx.HTTPError as exc:
        # The operator's log keeps the reason; the token holder's log only "no answer".
        reason = str(exc) if isinstance(exc, AddressRefused) else type(exc).__name__
        log.warning("callback_no_answer", delivery_id=delivery_id, reason=reason)
        error = NO_ANSWER
    return _record(database, delivery_id, status_code, error)


def _record(
    database: Database, delivery_id: int, status_code: int | None, error: str | None
) -> str:
    with database.session() as session:
        delivery = session.get(CallbackDelivery, delivery_id)
        if delivery is None:
            return "missing"
        delivery.attempts += 1
        delivery.last_attempt_at = utcnow()
        delivery.last_http_status = status_code
        delivery.last_error = error
        if error is None:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = delivery.last_attempt_at
        elif delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        status = delivery.status
        attempts = delivery.attempts
    log.info(
        "callback_attempt",
        delivery_id=delivery_id,
        status=status.value,
        attempts=attempts,
        http_status=status_code,
    )
    if status is DeliveryStatus.PENDING:
        raise CallbackFailed(f"callback delivery {delivery_id} failed: {error}")
    return status.value
