"""``billhive dev`` signs up the sandbox's demo merchants once, through the real service."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.dev.demo import sign_up_demo_merchants, start_demo_changes, switch_on_demo_feeds
from billhive.feeds.models import Feed, Resource
from billhive.sandbox import create_sandbox_app, demo_accounts
from billhive.tenants.models import Tenant


def test_demo_merchants_are_signed_up_once_even_when_the_sandbox_is_down_later(
    settings_factory: Callable[..., Settings],
    live_server_factory: Callable[[Any], Any],
    session: Session,
) -> None:
    api_key = "devdemo-test-key"
    sandbox = live_server_factory(create_sandbox_app(api_keys=[api_key], accounts=demo_accounts()))
    first = sign_up_demo_merchants(
        settings_factory(billbee_base_url=f"{sandbox.url}/api/v1", billbee_api_key=api_key)
    )
    assert {m.status for m in first} == {"active"}
    down = settings_factory(
        billbee_base_url="http://127.0.0.1:9/api/v1", billbee_api_key=api_key, billbee_timeout=1
    )
    again = sign_up_demo_merchants(down)
    assert {m.status for m in again} == {"already signed up"}
    assert session.scalar(select(func.count()).select_from(Tenant)) == len(first)


def test_the_demo_switches_the_order_feeds_of_the_demo_merchants_on(
    settings_factory: Callable[..., Settings],
    live_server_factory: Callable[[Any], Any],
    session: Session,
) -> None:
    api_key = "devdemo-test-key"
    sandbox = live_server_factory(create_sandbox_app(api_keys=[api_key], accounts=demo_accounts()))
    settings = settings_factory(billbee_base_url=f"{sandbox.url}/api/v1", billbee_api_key=api_key)
    merchants = sign_up_demo_merchants(settings)
    assert switch_on_demo_feeds(settings) == len(merchants)
    assert switch_on_demo_feeds(settings) == len(merchants)  # once more: nothing doubled
    feeds = session.execute(select(Feed.resource, Feed.enabled)).all()
    assert sorted(feeds) == [(Resource.ORDERS, True)] * len(merchants)


def test_the_demo_has_the_sandbox_change_orders_and_post_webhooks(
    live_server_factory: Callable[[Any], Any],
) -> None:
    sandbox = live_server_factory(create_sandbox_app(api_keys=["k"], accounts=demo_accounts()))
    start_demo_changes(f"{sandbox.url}/api/v1", per_account_per_minute=0.5)
    control = f"{sandbox.url}/api/v1/_sandbox"
    try:
        generator = httpx.get(f"{control}/changes/generator").json()
        assert generator["per_account_per_minute"] == 0.5
        assert httpx.get(f"{control}/webhooks").json()["deliver"] is True
    finally:
        httpx.put(f"{control}/changes/generator", json={"per_account_per_minute": 0})
