"""The feed fetches' backlog: how many wait, how long the oldest has waited, and the
share of the key that would keep up (the operator's signal to raise
``BILLHIVE_FEED_KEY_SHARE``).

The poller caps the fetches it starts at the feeds' share of the key (0.10 x 50/s = 5/s
by default). When feeds become due, or webhooks trigger them, faster than that, the
waiting feeds pile up and a change waits longer and longer to be read. Each poller tick
(:func:`record`, one aggregate query) counts the feeds waiting after it queued its
fetches, and measures the *demand*: feeds that became waiting during the tick are the
change in the waiting count plus the fetches the tick started; their rate, smoothed over
about a minute, divided by the key's 50 calls/s is the share that would keep up. The
figures go to one Redis hash, so a page view reads them with one round trip
(:func:`read`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime

from redis import Redis
from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.orm import Session

from billhive.billbee.limits import KEY_LIMIT
from billhive.db import UTCDateTime
from billhive.feeds.models import Feed
from billhive.feeds.schedule import TRIGGER_LEAD
from billhive.tenants.lifecycle import runs_calls, statuses_where
from billhive.tenants.models import Tenant

#: The Redis hash the poller writes and the dashboard reads.
BACKLOG_KEY = "billhive:feeds:backlog"
#: The figures expire when the poller stops writing them (it runs every second).
BACKLOG_TTL_SECONDS = 120
#: The demand is smoothed over about this long (exponentially weighted).
SMOOTHING_SECONDS = 60.0
#: The oldest waiting feed waited this long: the fetches are backlogged (the poller runs
#: every second, so a feed that can be fetched waits about one tick).
BACKLOGGED_AFTER_SECONDS = 10.0


@dataclass(frozen=True)
class Backlog:
    """The feed fetches waiting for the poller's share of the key, as last measured."""

    #: Feeds due or triggered, not in flight, of active tenants.
    waiting: int
    #: Of those, feeds a webhook's post brought forward.
    triggered: int
    #: How long the longest-waiting of them has waited, in seconds.
    oldest_wait_seconds: float
    #: Feeds that became waiting per second (smoothed): what the poller would have to start.
    demand_per_second: float
    measured_at: datetime

    @property
    def backlogged(self) -> bool:
        """Whether feeds wait longer than a few poller ticks."""
        return self.oldest_wait_seconds >= BACKLOGGED_AFTER_SECONDS

    @property
    def needed_share(self) -> float:
        """The share of the key's calls per second that would keep up (0..), measured
        demand / key rate: compare with ``BILLHIVE_FEED_KEY_SHARE``."""
        return round(self.demand_per_second / KEY_LIMIT, 3)


def measure(session: Session, now: datetime) -> tuple[int, int, float]:
    """Feeds waiting now, how many of them triggered, and the oldest wait in seconds
    (one aggregate query)."""
    mark = literal(now - TRIGGER_LEAD / 2, UTCDateTime())
    triggered = Feed.next_poll_at <= mark
    row = session.execute(
        select(
            func.count(),
            func.coalesce(func.sum(case((triggered, 1), else_=0)), 0),
            func.min(case((and_(triggered, Feed.triggered_at.is_not(None)), Feed.triggered_at))),
            func.min(case((~triggered, Feed.next_poll_at))),
        )
        .select_from(Feed)
        .join(Tenant, Tenant.id == Feed.tenant_id)
        .where(
            Feed.enabled.is_(True),
            Feed.call_id.is_(None),
            Feed.next_poll_at <= literal(now, UTCDateTime()),
            Tenant.status.in_(statuses_where(runs_calls)),
        )
    ).one()
    waiting, n_triggered, oldest_trigger, oldest_due = row
    oldest = [_aware(t) for t in (oldest_trigger, oldest_due) if t is not None]
    wait = max(0.0, (now - min(oldest)).total_seconds()) if oldest else 0.0
    return int(waiting or 0), int(n_triggered or 0), round(wait, 1)


def _aware(moment: datetime | str) -> datetime:
    # A bare aggregate comes back without the column's type on some backends.
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def record(session: Session, redis: Redis, *, started: int, now: datetime) -> Backlog:
    """Measure after a poller tick that started ``started`` fetches; store and return it."""
    waiting, triggered, wait = measure(session, now)
    previous = read(redis)
    if previous is None:
        demand = float(started)
    else:
        seconds = max((now - previous.measured_at).total_seconds(), 0.001)
        arrived = max(0, waiting - previous.waiting + started)
        weight = 1 - math.exp(-seconds / SMOOTHING_SECONDS)
        demand = previous.demand_per_second + weight * (
            arrived / seconds - previous.demand_per_second
        )
    backlog = Backlog(waiting, triggered, wait, round(demand, 3), now)
    with redis.pipeline(transaction=True) as pipe:
        pipe.hset(
            BACKLOG_KEY,
            mapping={
                "waiting": waiting,
                "triggered": triggered,
                "oldest_wait_seconds": wait,
                "demand_per_second": backlog.demand_per_second,
                "measured_at": now.isoformat(),
            },
        )
        pipe.expire(BACKLOG_KEY, BACKLOG_TTL_SECONDS)
        pipe.execute()
    return backlog


def read(redis: Redis) -> Backlog | None:
    """The last measured backlog (one Redis read), or None when the poller has not run
    for a while."""
    raw = redis.hgetall(BACKLOG_KEY)
    if not raw:
        return None
    values = {
        (k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
        for k, v in raw.items()
    }
    try:
        return Backlog(
            waiting=int(values["waiting"]),
            triggered=int(values["triggered"]),
            oldest_wait_seconds=float(values["oldest_wait_seconds"]),
            demand_per_second=float(values["demand_per_second"]),
            measured_at=datetime.fromisoformat(values["measured_at"]),
        )
    except (KeyError, ValueError):
        return None
