"""``billhive.feeds.service``: purging old events keeps the sequence going."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from redis import Redis
from sqlalchemy import select

from billhive.db import Database, utcnow
from billhive.delivery.events import collect_events
from billhive.feeds.models import EventType, FeedEvent, Resource
from billhive.feeds.service import purge_events


def _event(tenant_id: int, n: int, *, days_old: int = 0) -> FeedEvent:
    return FeedEvent(
        event_id=f"evt_{tenant_id}_{n}",
        tenant_id=tenant_id,
        resource=Resource.ORDERS,
        type=EventType.ORDER_CHANGED,
        record_id=str(n),
        created_at=utcnow() - timedelta(days=days_old),
    )


def test_a_purge_keeps_the_last_numbered_event_so_numbers_go_on_from_it(
    db: Database, redis_client: Redis, bare_tenant: Callable[[], int]
) -> None:
    tenant = bare_tenant()
    with db.session() as session:
        session.add_all([_event(tenant, n, days_old=40) for n in range(3)])
        session.commit()
        collect_events(session, redis_client)
        assert purge_events(session, older_than=timedelta(days=30)) == 2
        session.add(_event(tenant, 3))
        session.commit()
        collect_events(session, redis_client)
        seqs = session.execute(select(FeedEvent.event_id, FeedEvent.seq).order_by(FeedEvent.seq))
        assert [tuple(row) for row in seqs] == [(f"evt_{tenant}_2", 3), (f"evt_{tenant}_3", 4)]
