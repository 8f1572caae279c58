"""End to end over HTTP: the sandbox checks billhive's webhook URL (echo), posts a signed
notification when an order changes, and the feed reads the change at once."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select
from support.feeds import FEED_API_KEY, FEED_PASSWORD, feed_username, register_webhook, work_all

from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds.models import Feed, FeedEvent, FeedWebhook, Resource
from billhive.feeds.poller import poll_due
from billhive.feeds.service import switch_on
from billhive.platform import create_app
from billhive.workers.runtime import Runtime


def test_a_change_in_billbee_reaches_the_feed_through_the_webhook(
    feed_runtime: Runtime,
    feed_tenant: Callable[[int], int],
    feed_sandbox: Any,
    settings_factory: Callable[..., Settings],
    live_server_factory: Callable[[Any], Any],
) -> None:
    rt = feed_runtime
    web = live_server_factory(create_app(settings_factory()))
    httpx.put(
        feed_sandbox.url + "/api/v1/_sandbox/webhooks", json={"deliver": True}
    ).raise_for_status()
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    settings = rt.settings.model_copy(update={"public_url": web.url})
    # The create call: the sandbox's echo check reaches billhive's receiver.
    register_webhook(rt, tenant, settings)
    # First pass (the feed's start), then the next poll far away: only a webhook brings it.
    with rt.database.session() as session:
        poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)
    work_all(rt)
    with rt.database.session() as session:
        feed = session.scalars(select(Feed).where(Feed.tenant_id == tenant)).one()
        feed.next_poll_at = utcnow() + timedelta(hours=1)
        session.commit()

    merchant = httpx.Client(
        base_url=feed_sandbox.url + "/api/v1",
        headers={"X-Billbee-Api-Key": FEED_API_KEY},
        auth=(feed_username(1), FEED_PASSWORD),
    )
    time.sleep(1.1)  # the sandbox's per-endpoint limit (2/s) counts the feed's own calls
    order_id = merchant.get("/orders", params={"pageSize": 1}).json()["Data"][0]["BillBeeOrderId"]
    merchant.put(f"/orders/{order_id}/orderstate", json={"NewStateId": 4}).raise_for_status()

    deadline = time.monotonic() + 10
    received = 0
    while time.monotonic() < deadline and not received:
        with rt.database.session() as session:
            hook = session.get(FeedWebhook, tenant)
            received = hook.received if hook else 0
        time.sleep(0.05)
    assert received == 1
    with rt.database.session() as session:
        assert len(poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)) == 1
    work_all(rt)
    with rt.database.session() as session:
        events = session.scalars(
            select(FeedEvent).where(
                FeedEvent.tenant_id == tenant, FeedEvent.record_id == str(order_id)
            )
        ).all()
    # The order is older than the feed: first seen now, as changed (how is not known).
    assert [e.type.value for e in events] == ["order.changed"]
