"""When a feed is polled next: recently active tenants often, quiet ones rarely.

The interval after a pass is a quarter of the time since the feed's last event, kept
between the floor and the ceiling: a tenant whose orders changed a minute ago is asked
again after the floor, one quiet for a day after the ceiling. A webhook (or a change the
vendor caused) brings the next poll forward to now. Failures back off, doubling up to
the ceiling. The poller caps how many fetches it starts per second (the feed's share of
the key), so many active tenants stretch the intervals instead of the key.

A feed that has made no event yet is as quiet as it is old: one switched on a minute ago
is asked again after the floor, not only at the ceiling (its tenant's first change would
otherwise wait up to the ceiling whenever its webhook is lost or off).

A webhook's read goes before every poll that is merely due: :func:`triggered_at` moves
the feed's next poll a day into the past, and the poller takes the most overdue first.
When the key's feed share is used up by due polls (many active tenants), a trigger does
not wait behind them; the polls, being the safety net, wait instead.

A trigger is kept (``Feed.triggered_at``) until a fetch queued after it succeeds. When
the fetch that should answer it fails (Billbee 5xx, a timeout), the back-off alone would
leave the change unread for up to the ceiling; :func:`retry_after_trigger` retries once
at the trigger's time plus :data:`TRIGGER_RETRY`, or at the back-off if that is sooner.
The trigger is used up by that retry, so a failing Billbee is asked at most once more per
webhook post (and posts are rate limited per URL), never in a loop.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from billhive.config import Settings
from billhive.feeds.models import Feed

#: How far into the past a webhook's trigger moves a feed's next poll (see above).
TRIGGER_LEAD = timedelta(days=1)
#: After a fetch that should have answered a trigger failed: retry this long after the
#: trigger (short, but not a hot loop: one retry per trigger).
TRIGGER_RETRY = timedelta(seconds=5)


def interval_seconds(feed: Feed, settings: Settings, now: datetime) -> float:
    """Seconds until the feed's next pass should start."""
    floor, ceiling = settings.feed_poll_floor_seconds, settings.feed_poll_ceiling_seconds
    ceiling = max(floor, ceiling)
    if feed.failures:
        return float(min(ceiling, floor * 2 ** min(feed.failures, 16)))
    quiet = (now - (feed.last_change_at or feed.started_at)).total_seconds()
    return float(min(ceiling, max(floor, quiet / 4)))


def next_poll_at(feed: Feed, settings: Settings, now: datetime) -> datetime:
    """The moment of the feed's next pass."""
    return now + timedelta(seconds=interval_seconds(feed, settings, now))


def after_failure(feed: Feed, settings: Settings, now: datetime) -> datetime:
    """The next poll after a failed fetch (``feed.failures`` already counts it): the
    back-off, or sooner once when a trigger is waiting (:func:`retry_after_trigger`)."""
    backoff = next_poll_at(feed, settings, now)
    if feed.triggered_at is None:
        return backoff
    return retry_after_trigger(feed, backoff)


def retry_after_trigger(feed: Feed, backoff: datetime) -> datetime:
    """The retry of a trigger whose fetch failed: ``min(trigger + TRIGGER_RETRY,
    back-off)``. Uses the trigger up (clears ``triggered_at``)."""
    assert feed.triggered_at is not None
    retry = min(feed.triggered_at + TRIGGER_RETRY, backoff)
    feed.triggered_at = None
    return retry


def reconcile_due(feed: Feed, settings: Settings, now: datetime) -> bool:
    """True when the feed's next pass should read back the whole reconcile window."""
    last = feed.last_reconciled_at or feed.started_at
    return (now - last).total_seconds() >= settings.feed_reconcile_seconds


def triggered_at(now: datetime) -> datetime:
    """The next poll a webhook's trigger sets: before every poll that is merely due."""
    return now - TRIGGER_LEAD


def is_triggered(feed: Feed, now: datetime) -> bool:
    """True when a trigger came after the feed's fetch was queued (its mark is still
    set): the next read should start at once, before the merely due ones."""
    return feed.next_poll_at <= now - TRIGGER_LEAD / 2
