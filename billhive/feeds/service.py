"""Switching feeds on and off, and asking for a tenant's feeds to be read now."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from sqlalchemy import case, delete, func, literal, or_, select, update
from sqlalchemy.orm import Session

from billhive.db import UTCDateTime, utcnow
from billhive.feeds.models import Feed, FeedEvent, Resource
from billhive.feeds.schedule import triggered_at

ALL_RESOURCES: tuple[Resource, ...] = tuple(Resource)


class FeedError(ValueError):
    """A feed cannot be changed as asked; the message says why."""


def parse_resources(names: Iterable[str]) -> list[Resource]:
    """Resources by name; :class:`FeedError` naming the unknown one."""
    out: list[Resource] = []
    for name in names:
        try:
            out.append(Resource(name))
        except ValueError:
            known = ", ".join(r.value for r in Resource)
            raise FeedError(f"unknown feed resource {name!r} (known: {known})") from None
    return out


def switch_on(
    session: Session, tenant_id: int, resources: Sequence[Resource] = ALL_RESOURCES
) -> list[Feed]:
    """Switch the tenant's feeds of ``resources`` on (commits); a feed switched on again
    keeps its cursor, so the changes made while it was off are told."""
    feeds = _switch_on(session, tenant_id, resources)
    session.commit()
    return feeds


def _switch_on(session: Session, tenant_id: int, resources: Sequence[Resource]) -> list[Feed]:
    now = utcnow()
    feeds = []
    for resource in resources:
        feed = session.scalars(
            select(Feed).where(Feed.tenant_id == tenant_id, Feed.resource == resource)
        ).one_or_none()
        if feed is None:
            feed = Feed(
                tenant_id=tenant_id,
                resource=resource,
                started_at=now,
                cursor=now,
                next_poll_at=now,
            )
            session.add(feed)
        else:
            feed.enabled = True
            feed.next_poll_at = now
        feeds.append(feed)
    session.flush()
    return feeds


def switch_off(
    session: Session, tenant_id: int, resources: Sequence[Resource] = ALL_RESOURCES
) -> int:
    """Switch the tenant's feeds of ``resources`` off (commits); returns how many."""
    count = _switch_off(session, tenant_id, resources)
    session.commit()
    return count


def _switch_off(session: Session, tenant_id: int, resources: Sequence[Resource]) -> int:
    result = session.execute(
        update(Feed)
        .where(Feed.tenant_id == tenant_id, Feed.resource.in_(list(resources)))
        .values(enabled=False)
        .execution_options(synchronize_session="fetch")
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def change(
    session: Session,
    tenant_id: int,
    *,
    on: Sequence[Resource] = (),
    off: Sequence[Resource] = (),
) -> list[Feed]:
    """Switch feeds of ``on`` on and of ``off`` off in one transaction (commits); returns
    every feed of the tenant. :class:`FeedError` when a resource is named in both."""
    both = sorted(set(on) & set(off))
    if both:
        raise FeedError(f"feed resource {both[0].value!r} cannot be switched both on and off")
    _switch_on(session, tenant_id, on)
    _switch_off(session, tenant_id, off)
    session.commit()
    return feeds_of(session, [tenant_id]).get(tenant_id, [])


def feeds_of(session: Session, tenant_ids: Sequence[int]) -> dict[int, list[Feed]]:
    """Each tenant's feeds (on or off, in resource order); tenants without any are absent."""
    out: dict[int, list[Feed]] = {}
    if not tenant_ids:
        return out
    rows = session.scalars(
        select(Feed).where(Feed.tenant_id.in_(list(tenant_ids))).order_by(Feed.tenant_id)
    )
    order = {r: i for i, r in enumerate(Resource)}
    for feed in rows:
        out.setdefault(feed.tenant_id, []).append(feed)
    for feeds in out.values():
        feeds.sort(key=lambda f: order[f.resource])
    return out


def poll_now(session: Session, tenant_id: int, *, now: datetime | None = None) -> int:
    """Bring the next poll of the tenant's switched-on feeds forward, before every poll
    that is merely due (commits); a feed with a fetch in flight reads again right after
    it. The oldest trigger not yet answered is kept (``Feed.triggered_at``), so a fetch
    that fails after it retries soon. Returns how many."""
    now = now or utcnow()
    mark = literal(triggered_at(now), UTCDateTime())
    result = session.execute(
        update(Feed)
        .where(Feed.tenant_id == tenant_id, Feed.enabled.is_(True))
        .values(
            next_poll_at=case((Feed.next_poll_at > mark, mark), else_=Feed.next_poll_at),
            triggered_at=func.coalesce(Feed.triggered_at, literal(now, UTCDateTime())),
        )
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_events(session: Session, *, older_than: timedelta) -> int:
    """Delete feed events older than ``older_than`` (commits); returns how many.

    The last announced event stays, however old: the collector numbers on from its
    ``seq``, and numbers starting again at 1 would hide new events from every pull
    cursor beyond them."""
    last = select(func.max(FeedEvent.seq)).scalar_subquery()
    result = session.execute(
        delete(FeedEvent).where(
            FeedEvent.created_at < utcnow() - older_than,
            or_(FeedEvent.seq.is_(None), FeedEvent.seq < last),
        )
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]
