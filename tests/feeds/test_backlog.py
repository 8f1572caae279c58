"""The feed fetches' backlog (billhive/feeds/backlog.py): what waits, for how long, and
the share of the key that would keep up."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from sqlalchemy import update

from billhive.billbee.limits import KEY_LIMIT
from billhive.db import Database, utcnow
from billhive.feeds import backlog
from billhive.feeds.models import Feed, Resource
from billhive.feeds.poller import per_tick, poll_feeds
from billhive.feeds.service import poll_now, switch_on
from billhive.workers.runtime import Runtime


def _due_feeds(
    db: Database, bare_tenant: Callable[[], int], count: int, *, since: datetime
) -> list[int]:
    """``count`` tenants with an orders feed due since ``since``; returns their ids."""
    tenants = [bare_tenant() for _ in range(count)]
    with db.session() as session:
        for tenant in tenants:
            switch_on(session, tenant, [Resource.ORDERS])
        session.execute(update(Feed).where(Feed.tenant_id.in_(tenants)).values(next_poll_at=since))
        session.commit()
    return tenants


def test_the_waiting_feeds_and_the_oldest_wait_are_measured(
    db: Database, bare_tenant: Callable[[], int], redis_client: Redis
) -> None:
    now = utcnow()
    tenants = _due_feeds(db, bare_tenant, 3, since=now - timedelta(seconds=30))
    with db.session() as session:
        poll_now(session, tenants[0], now=now - timedelta(seconds=45))
        found = backlog.record(session, redis_client, started=0, now=now)
    assert (found.waiting, found.triggered) == (3, 1)
    assert found.oldest_wait_seconds == pytest.approx(45, abs=1)  # the trigger's wait
    assert found.backlogged
    assert backlog.read(redis_client) == found


def test_feeds_in_the_future_are_no_backlog(
    db: Database, bare_tenant: Callable[[], int], redis_client: Redis
) -> None:
    now = utcnow()
    _due_feeds(db, bare_tenant, 2, since=now + timedelta(minutes=5))
    with db.session() as session:
        found = backlog.record(session, redis_client, started=0, now=now)
    assert (found.waiting, found.oldest_wait_seconds, found.backlogged) == (0, 0.0, False)


def test_the_demand_is_the_feeds_that_became_waiting_plus_those_started(
    db: Database, bare_tenant: Callable[[], int], redis_client: Redis
) -> None:
    now = utcnow()
    with db.session() as session:
        first = backlog.record(session, redis_client, started=4, now=now)
    assert first.demand_per_second == 4.0
    # Ten seconds later 30 feeds wait and 50 were started meanwhile: 80 became waiting.
    _due_feeds(db, bare_tenant, 30, since=now)
    later = now + timedelta(seconds=10)
    with db.session() as session:
        second = backlog.record(session, redis_client, started=50, now=later)
    weight = 1 - math.exp(-10 / backlog.SMOOTHING_SECONDS)
    assert second.demand_per_second == pytest.approx(4 + weight * (8 - 4), abs=0.01)
    assert second.needed_share == pytest.approx(second.demand_per_second / KEY_LIMIT, abs=0.001)


def test_the_poller_notes_the_backlog_it_leaves(
    feed_runtime: Runtime, bare_tenant: Callable[[], int]
) -> None:
    rt = feed_runtime
    cap = per_tick(rt.settings)
    _due_feeds(rt.database, bare_tenant, cap + 3, since=utcnow() - timedelta(minutes=1))
    assert poll_feeds() == cap
    found = backlog.read(rt.redis)
    assert found is not None and found.waiting == 3 and found.backlogged


def test_a_redis_error_while_noting_the_backlog_keeps_the_fetches_the_tick_queued(
    feed_runtime: Runtime, bare_tenant: Callable[[], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    def refused(*args: object, **kwargs: object) -> None:
        raise RedisConnectionError("connection refused")

    # Only the note fails; the fetches before it went through the real Redis.
    monkeypatch.setattr(backlog, "record", refused)
    _due_feeds(feed_runtime.database, bare_tenant, 2, since=utcnow() - timedelta(minutes=1))
    assert poll_feeds() == 2
    assert backlog.read(feed_runtime.redis) is None
