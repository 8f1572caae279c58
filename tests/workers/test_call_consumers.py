"""A call's consumer is named by data: only billhive's own functions resolve; a consumer
that fails undoes only its own rows."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.workers import work

from billhive.db import utcnow
from billhive.feeds.fetch import CONSUMER, consume_page
from billhive.workers import jobs
from billhive.workers.calls import enqueue_call
from billhive.workers.consumers import UnknownConsumer, resolve
from billhive.workers.models import Call, CallStatus, UsageDay
from billhive.workers.runtime import Runtime


def test_a_feed_consumer_name_resolves_to_its_function() -> None:
    assert resolve(CONSUMER) is consume_page


@pytest.mark.parametrize(
    "name",
    ["os:system", "billhive.feeds.fetch", "billhive.feeds.fetch:no_such_thing", "billhive.nope:x"],
)
def test_a_name_outside_billhive_or_unknown_is_refused(name: str) -> None:
    with pytest.raises(UnknownConsumer):
        resolve(name)


def test_a_call_whose_consumer_fails_is_still_counted_on_the_tenants_day(
    runtime: Runtime,
    signed_up: Callable[[int], int],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The call reached Billbee, so the key was spent on it: only the consumer's own rows
    # may be undone, never the usage counter.
    tenant = signed_up(1)

    def broken(session: Session, call: Call, params: object, response: object) -> None:
        session.add(UsageDay(tenant_id=tenant, day=date(2000, 1, 1), calls=99))
        session.flush()
        raise RuntimeError("the consumer cannot take this answer")

    monkeypatch.setattr(jobs, "consume", broken)
    with runtime.database.session() as session:
        call_id = enqueue_call(
            tenant,
            "orders.list",
            {"page": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
            consumer=CONSUMER,
        ).id
    work(runtime)
    with runtime.database.session() as session:
        call = session.get(Call, call_id)
        assert call is not None and call.status is CallStatus.FAILED
        assert call.http_status == 200
        days = {d.day: d.calls for d in session.scalars(select(UsageDay))}
    # The consumer's own row is gone; today's count has the call.
    assert days == {utcnow().date(): 1}
