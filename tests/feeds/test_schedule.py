"""Adaptive polling: active tenants often, quiet ones rarely, within the floor and ceiling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from billhive.config import Settings
from billhive.feeds.models import Feed, Resource
from billhive.feeds.poller import per_tick
from billhive.feeds.schedule import interval_seconds, reconcile_due

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _feed(
    last_change: timedelta | None, failures: int = 0, age: timedelta = timedelta(days=1)
) -> Feed:
    return Feed(
        tenant_id=1,
        resource=Resource.ORDERS,
        started_at=NOW - age,
        cursor=NOW,
        last_change_at=None if last_change is None else NOW - last_change,
        failures=failures,
    )


def test_a_tenant_active_a_minute_ago_is_polled_at_the_floor(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(feed_poll_floor_seconds=15, feed_poll_ceiling_seconds=300)
    assert interval_seconds(_feed(timedelta(minutes=1)), settings, NOW) == 15


def test_a_quiet_tenant_is_polled_at_the_ceiling(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(feed_poll_floor_seconds=15, feed_poll_ceiling_seconds=300)
    assert interval_seconds(_feed(timedelta(days=2)), settings, NOW) == 300
    assert interval_seconds(_feed(None), settings, NOW) == 300
    assert interval_seconds(_feed(timedelta(minutes=8)), settings, NOW) == 120


def test_a_feed_without_events_yet_is_as_quiet_as_it_is_old(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(feed_poll_floor_seconds=15, feed_poll_ceiling_seconds=300)
    assert interval_seconds(_feed(None, age=timedelta(minutes=1)), settings, NOW) == 15
    assert interval_seconds(_feed(None, age=timedelta(minutes=8)), settings, NOW) == 120


def test_failures_back_off_up_to_the_ceiling(settings_factory: Callable[..., Settings]) -> None:
    settings = settings_factory(feed_poll_floor_seconds=10, feed_poll_ceiling_seconds=300)
    assert interval_seconds(_feed(timedelta(0), failures=1), settings, NOW) == 20
    assert interval_seconds(_feed(timedelta(0), failures=9), settings, NOW) == 300


def test_reconciliation_comes_round_after_its_interval(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(feed_reconcile_seconds=3600)
    feed = _feed(None)
    feed.last_reconciled_at = NOW - timedelta(minutes=30)
    assert not reconcile_due(feed, settings, NOW)
    feed.last_reconciled_at = NOW - timedelta(minutes=61)
    assert reconcile_due(feed, settings, NOW)


def test_the_poller_starts_at_most_the_feeds_share_of_the_key_per_tick(
    settings_factory: Callable[..., Settings],
) -> None:
    assert per_tick(settings_factory(feed_key_share=0.1)) == 5
    assert per_tick(settings_factory(feed_key_share=0.3)) == 15
