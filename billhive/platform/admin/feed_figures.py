"""The change feeds on the overview: their share of the key, and the newest events.

Read from the database: the feed fetches are calls (background lane) naming the feed's
consumer, and ``ix_calls_started_at`` keeps the count of the last minutes a short range
scan. The events shown carry no personal data (type, tenant, record id, time), like the
events themselves.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.billbee.limits import KEY_LIMIT
from billhive.db import utcnow
from billhive.feeds.fetch import CONSUMER
from billhive.feeds.models import Feed, FeedEvent
from billhive.tenants.models import Tenant
from billhive.workers.models import Call

#: The window the feed's share of the key is averaged over.
SHARE_MINUTES = 5
#: Events listed on the overview.
RECENT_EVENTS = 15


@dataclass(frozen=True)
class FeedShare:
    """How much of the key the feed fetches took over the last ``minutes``."""

    minutes: int
    fetches: int
    feeds_on: int
    #: The poller's cap (``BILLHIVE_FEED_KEY_SHARE``), in percent.
    cap_percent: float

    @property
    def per_second(self) -> float:
        """Feed fetches started per second, on average over the window."""
        return round(self.fetches / (self.minutes * 60), 2)

    @property
    def percent(self) -> float:
        """The fetches' share of the key's calls per second, in percent."""
        return round(100 * self.fetches / (self.minutes * 60 * KEY_LIMIT), 1)


@dataclass(frozen=True)
class RecentEvent:
    """One feed event as the overview lists it."""

    created_at: datetime
    type: str
    tenant_id: int
    tenant_name: str
    record_id: str


def feed_share(
    session: Session,
    cap: float,
    *,
    minutes: int = SHARE_MINUTES,
    now: datetime | None = None,
) -> FeedShare:
    """Feed fetches started in the last ``minutes`` and the feeds switched on; ``cap`` is
    the poller's share of the key (0..1)."""
    since = (now or utcnow()) - timedelta(minutes=minutes)
    fetches = session.scalar(
        select(func.count())
        .select_from(Call)
        .where(Call.started_at >= since, Call.consumer == CONSUMER)
    )
    feeds_on = session.scalar(select(func.count()).select_from(Feed).where(Feed.enabled.is_(True)))
    return FeedShare(minutes, int(fetches or 0), int(feeds_on or 0), round(100 * cap, 1))


def recent_events(session: Session, limit: int = RECENT_EVENTS) -> list[RecentEvent]:
    """The newest feed events, newest first."""
    rows = session.execute(
        select(
            FeedEvent.created_at,
            FeedEvent.type,
            FeedEvent.tenant_id,
            Tenant.display_name,
            FeedEvent.record_id,
        )
        .join(Tenant, Tenant.id == FeedEvent.tenant_id)
        .order_by(FeedEvent.id.desc())
        .limit(limit)
    ).all()
    return [
        RecentEvent(created_at, kind.value, tenant_id, name, record_id)
        for created_at, kind, tenant_id, name, record_id in rows
    ]
