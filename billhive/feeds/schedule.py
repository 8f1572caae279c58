"""When a feed is polled next: recently active tenants often, quiet ones rarely.

The interval after a pass is a quarter of the time since the feed's last event, kept
between the floor and the ceiling: a tenant whose orders changed a minute ago is asked
again after the floor, one quiet for a day after the ceiling. A webhook (or a change the
vendor caused) brings the next poll forward to now. Failures back off, doubling up to
the ceiling. The poller caps how many fetches it starts per second (the feed's share of
the key), so many active tenants stretch the intervals instead of the key.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from billhive.config import Settings
from billhive.feeds.models import Feed


def interval_seconds(feed: Feed, settings: Settings, now: datetime) -> float:
    """Seconds until the feed's next pass should start."""
    floor, ceiling = settings.feed_poll_floor_seconds, settings.feed_poll_ceiling_seconds
    ceiling = max(floor, ceiling)
    if feed.failures:
        return float(min(ceiling, floor * 2 ** min(feed.failures, 16)))
    if feed.last_change_at is None:
        return float(ceiling)
    quiet = (now - feed.last_change_at).total_seconds()
    return float(min(ceiling, max(floor, quiet / 4)))


def next_poll_at(feed: Feed, settings: Settings, now: datetime) -> datetime:
    """The moment of the feed's next pass."""
    return now + timedelta(seconds=interval_seconds(feed, settings, now))


def reconcile_due(feed: Feed, settings: Settings, now: datetime) -> bool:
    """True when the feed's next pass should read back the whole reconcile window."""
    last = feed.last_reconciled_at or feed.started_at
    return (now - last).total_seconds() >= settings.feed_reconcile_seconds
