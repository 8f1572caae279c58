"""Polling end to end: background-lane calls against the sandbox over HTTP become events."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from support.feeds import work_all
from support.sealed import payload_of

from billhive.db import utcnow
from billhive.feeds.fetch import CONSUMER
from billhive.feeds.models import Feed, FeedEvent, Resource
from billhive.feeds.poller import poll_due
from billhive.feeds.schedule import TRIGGER_RETRY, is_triggered
from billhive.feeds.service import poll_now, switch_on
from billhive.workers.calls import enqueue_call
from billhive.workers.models import Call, CallStatus, Lane
from billhive.workers.runtime import Runtime

ORDER = {
    "OrderItems": [{"Product": {"Title": "Mug", "SKU": "MUG-1"}, "Quantity": 1, "TotalPrice": 9.5}],
    "InvoiceAddress": {"FirstName": "Erika", "LastName": "Muster", "CountryISO2": "DE"},
}


def _poll(rt: Runtime) -> list[int]:
    with rt.database.session() as session:
        started = poll_due(session, rt.redis, rt.vault, rt.settings, limit=100)
    work_all(rt)
    return started


def _events(rt: Runtime, tenant_id: int) -> list[tuple[str, list[str] | None]]:
    with rt.database.session() as session:
        return [
            (e.type.value, e.changed)
            for e in session.scalars(
                select(FeedEvent).where(FeedEvent.tenant_id == tenant_id).order_by(FeedEvent.id)
            )
        ]


def _call(rt: Runtime, tenant_id: int, operation: str, **kwargs: object) -> Any:
    """Run one call to its end; returns its (opened) result."""
    with rt.database.session() as session:
        call = enqueue_call(
            tenant_id, operation, session=session, redis=rt.redis, vault=rt.vault, **kwargs
        )  # type: ignore[arg-type]
        call_id = call.id
    work_all(rt)
    with rt.database.session() as session:
        done = session.get(Call, call_id)
        assert done is not None and done.status is CallStatus.SUCCEEDED, done and done.error
        return payload_of(session, rt.vault, done).result


def test_a_new_and_a_changed_order_become_events_through_background_calls(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    created = _call(rt, tenant, "orders.create", body=ORDER)
    order_id = created["BillBeeOrderId"]

    started = _poll(rt)
    assert len(started) == 1
    with rt.database.session() as session:
        fetch = session.get(Call, started[0])
        assert fetch is not None
        assert fetch.lane is Lane.BACKGROUND and fetch.consumer == CONSUMER
        assert fetch.operation == "orders.list"
        # The page itself (end customers' addresses) is not kept on the call.
        assert fetch.status is CallStatus.SUCCEEDED
        assert payload_of(session, rt.vault, fetch).result["events"] == 1
    assert _events(rt, tenant) == [("order.created", None)]

    _call(rt, tenant, "orders.update_state", params={"id": order_id}, body={"NewStateId": 3})
    with rt.database.session() as session:
        assert poll_now(session, tenant) == 1
    _poll(rt)
    events = _events(rt, tenant)
    assert events[0] == ("order.created", None)
    assert events[1][0] == "order.changed"
    assert events[1][1] is not None and "State" in events[1][1]
    assert len(events) == 2


def test_a_feed_is_not_fetched_again_while_its_fetch_is_in_flight(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(2)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
        first = poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)
        poll_now(session, tenant)
        second = poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)
    assert len(first) == 1 and second == []
    work_all(rt)
    with rt.database.session() as session:
        feed = session.scalars(select(Feed).where(Feed.tenant_id == tenant)).one()
        assert feed.call_id is None and feed.last_polled_at is not None


def test_a_stock_change_becomes_a_stock_event(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(3)
    _call(rt, tenant, "products.create", body={"SKU": "CUP-9", "Title": [{"Text": "Cup"}]})
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.STOCK])
    _call(
        rt,
        tenant,
        "products.update_stock",
        body={"Sku": "CUP-9", "NewQuantity": 7},
    )
    _poll(rt)
    assert [t for t, _ in _events(rt, tenant)] == ["stock.changed"]


def test_a_webhooks_trigger_goes_before_the_polls_that_are_merely_due(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    due, triggered = feed_tenant(1), feed_tenant(2)
    with rt.database.session() as session:
        switch_on(session, due, [Resource.ORDERS])
        switch_on(session, triggered, [Resource.ORDERS])
        # Both long overdue (as when due polls fill the feeds' share of the key), the
        # untriggered one longer.
        for tenant, hours in ((due, 2), (triggered, 1)):
            session.execute(
                update(Feed)
                .where(Feed.tenant_id == tenant)
                .values(next_poll_at=utcnow() - timedelta(hours=hours))
            )
        session.commit()
        poll_now(session, triggered)
        started = poll_due(session, rt.redis, rt.vault, rt.settings, limit=1)
        assert len(started) == 1
        call = session.get(Call, started[0])
        assert call is not None and call.tenant_id == triggered


def test_a_trigger_that_comes_while_the_fetch_is_in_flight_reads_again_at_once(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(3)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
        assert len(poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)) == 1
        poll_now(session, tenant)  # the change came after Billbee was asked
    work_all(rt)  # the fetch's answer must not push the next poll to the interval
    with rt.database.session() as session:
        feed = session.scalars(select(Feed).where(Feed.tenant_id == tenant)).one()
        assert feed.call_id is None and is_triggered(feed, utcnow())
        assert len(poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)) == 1


def _failing_fetch_after_a_trigger(rt: Runtime, tenant: int) -> Feed:
    """Trigger the tenant's feed, fetch it while Billbee fails, settle; returns the feed."""
    with rt.database.session() as session:
        poll_now(session, tenant)
        assert len(poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)) == 1
    work_all(rt)  # Billbee answers 500 every time: the fetch call fails
    with rt.database.session() as session:
        assert poll_due(session, rt.redis, rt.vault, rt.settings, limit=10) == []
        feed = session.scalars(select(Feed).where(Feed.tenant_id == tenant)).one()
        session.expunge(feed)
        return feed


def test_a_trigger_whose_fetch_fails_is_retried_soon_not_at_the_back_off(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int], feed_sandbox: Any
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(1)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    faults = httpx.put(
        f"{feed_sandbox.url}/api/v1/_sandbox/accounts/1/faults", json={"error_rate": 1}
    )
    faults.raise_for_status()
    posted = utcnow()
    feed = _failing_fetch_after_a_trigger(rt, tenant)
    assert feed.failures == 1
    # The back-off would be twice the floor (30 s); the trigger brings the retry forward.
    assert feed.next_poll_at <= posted + TRIGGER_RETRY + timedelta(seconds=1)
    assert feed.triggered_at is None  # used up by this one retry


def test_a_failed_retry_of_a_trigger_backs_off_instead_of_looping(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int], feed_sandbox: Any
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(2)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
    faults = httpx.put(
        f"{feed_sandbox.url}/api/v1/_sandbox/accounts/2/faults", json={"error_rate": 1}
    )
    faults.raise_for_status()
    _failing_fetch_after_a_trigger(rt, tenant)
    with rt.database.session() as session:
        session.execute(update(Feed).where(Feed.tenant_id == tenant).values(next_poll_at=utcnow()))
        session.commit()
        assert len(poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)) == 1
    work_all(rt)  # the retry fails too
    with rt.database.session() as session:
        poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)
        feed = session.scalars(select(Feed).where(Feed.tenant_id == tenant)).one()
        assert feed.failures == 2
        floor = rt.settings.feed_poll_floor_seconds
        assert feed.next_poll_at >= utcnow() + timedelta(seconds=floor * 2)


def test_a_fetch_queued_after_a_trigger_answers_it(
    feed_runtime: Runtime, feed_tenant: Callable[[int], int]
) -> None:
    rt = feed_runtime
    tenant = feed_tenant(3)
    with rt.database.session() as session:
        switch_on(session, tenant, [Resource.ORDERS])
        poll_now(session, tenant)
        assert len(poll_due(session, rt.redis, rt.vault, rt.settings, limit=10)) == 1
    work_all(rt)
    with rt.database.session() as session:
        feed = session.scalars(select(Feed).where(Feed.tenant_id == tenant)).one()
        assert feed.failures == 0 and feed.triggered_at is None
