"""The feed poller: a cron job that starts the fetches of the feeds that are due.

Each tick it settles fetches that ended without their page being taken (failed,
cancelled, or answered to a feed that had moved on), then queues one fetch call per due
feed of an active tenant, the most overdue first, at most the feed's share of the key per
second. A fetch is an ordinary call in the background lane (limits, fairness, order and
recovery as for any call) whose answer goes to :func:`billhive.feeds.fetch.consume_page`.
At most one fetch of a feed is in flight, which keeps each feed's events in order.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from billhive.billbee.limits import KEY_LIMIT
from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds import backlog
from billhive.feeds.fetch import CONSUMER, fetch_params, start_pass
from billhive.feeds.models import Feed
from billhive.feeds.records import SPECS
from billhive.feeds.schedule import after_failure
from billhive.logs import get_logger
from billhive.tenants.lifecycle import runs_calls, statuses_where
from billhive.tenants.models import Tenant
from billhive.tenants.vault import Vault
from billhive.workers.calls import CallRejected, enqueue_call
from billhive.workers.models import Call, CallStatus, Lane
from billhive.workers.runtime import get_runtime

#: How often the poller runs.
TICK_SECONDS = 1
#: A fetch whose call id was never written back (the poller died in between) is asked
#: for again after this long.
IN_FLIGHT_GUARD = timedelta(minutes=5)
_FAILED = (CallStatus.FAILED, CallStatus.CANCELLED, CallStatus.UNKNOWN_OUTCOME)

log = get_logger(__name__)


def per_tick(settings: Settings) -> int:
    """Fetches one tick may start: the feed's share of the key for one tick."""
    return max(1, int(settings.feed_key_share * KEY_LIMIT * TICK_SECONDS))


def settle(session: Session, settings: Settings, now: datetime) -> int:
    """Free the feeds whose fetch ended without their page being taken; returns how many."""
    rows = session.execute(
        select(Feed, Call.status)
        .outerjoin(Call, Call.id == Feed.call_id)
        .where(Feed.call_id.is_not(None))
        .where((Call.id.is_(None)) | (Call.status.in_([*_FAILED, CallStatus.SUCCEEDED])))
    ).all()
    for feed, status in rows:
        feed.call_id = None
        if status in _FAILED:
            feed.failures += 1
            # Backs off, unless a webhook's trigger is still waiting for a read.
            feed.next_poll_at = after_failure(feed, settings, now)
        else:
            feed.next_poll_at = now  # answered a page the feed no longer waited for
    session.commit()
    return len(rows)


def poll_due(
    session: Session, redis: Redis, vault: Vault, settings: Settings, *, limit: int
) -> list[int]:
    """Queue one fetch per due feed, ``limit`` at most; returns the call ids."""
    now = utcnow()
    settle(session, settings, now)
    query = (
        select(Feed)
        .join(Tenant, Tenant.id == Feed.tenant_id)
        .where(
            Feed.enabled.is_(True),
            Feed.call_id.is_(None),
            Feed.next_poll_at <= now,
            Tenant.status.in_(statuses_where(runs_calls)),
        )
        .order_by(Feed.next_poll_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(of=Feed, skip_locked=True)
    feeds = list(session.scalars(query))
    plans = []
    for feed in feeds:
        if feed.pass_from is None:
            start_pass(feed, settings, now)
        feed.next_poll_at = now + IN_FLIGHT_GUARD
        plans.append(
            (
                feed.id,
                feed.tenant_id,
                feed.resource,
                feed.page,
                feed.pass_from,
                fetch_params(feed, settings),
            )
        )
    session.commit()
    started: list[int] = []
    for feed_id, tenant_id, resource, page, pass_from, params in plans:
        try:
            call = enqueue_call(
                tenant_id,
                SPECS[resource].operation,
                params,
                session=session,
                redis=redis,
                vault=vault,
                priority=Lane.BACKGROUND.value,
                consumer=CONSUMER,
            )
        except CallRejected as exc:
            # The tenant closed, ran out of budget...: try again at the ceiling.
            log.info("feed_fetch_refused", feed_id=feed_id, reason=str(exc))
            session.rollback()
            session.execute(
                update(Feed)
                .where(Feed.id == feed_id)
                .values(next_poll_at=now + timedelta(seconds=settings.feed_poll_ceiling_seconds))
            )
            session.commit()
            continue
        # Only if the page is still the one asked for (the fetch may be done already).
        session.execute(
            update(Feed)
            .where(
                Feed.id == feed_id,
                Feed.call_id.is_(None),
                Feed.page == page,
                Feed.pass_from == pass_from,
            )
            .values(call_id=call.id)
        )
        session.commit()
        started.append(call.id)
    return started


def poll_feeds() -> int:
    """Cron job: start the fetches of the due feeds, then note the backlog left (for the
    dashboard, feeds/backlog.py); returns how many were queued."""
    rt = get_runtime()
    with rt.database.session() as session:
        started = len(
            poll_due(session, rt.redis, rt.vault, rt.settings, limit=per_tick(rt.settings))
        )
        try:
            backlog.record(session, rt.redis, started=started, now=utcnow())
        except RedisError as exc:
            # The fetches are queued; only the dashboard's figure waits for the next tick.
            log.warning("feed_backlog_not_recorded", error=type(exc).__name__)
    return started
