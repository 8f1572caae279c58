"""A feed's pages become events once each: overlapping passes, page and clock boundaries."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from billhive.billbee.envelope import Paging
from billhive.config import Settings
from billhive.db import Database
from billhive.feeds.fetch import apply_page, fetch_params, start_pass
from billhive.feeds.models import EventType, Feed, FeedEvent, Resource
from billhive.feeds.records import billbee_time

KEY = b"k" * 32
T0 = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def order(order_id: int, modified: datetime, state: int = 1, **extra: Any) -> dict[str, Any]:
    """An order as Billbee lists it (the fields the feed reads, plus some)."""
    return {
        "BillBeeOrderId": order_id,
        "State": state,
        "CreatedAt": billbee_time(T0 + timedelta(seconds=1)),
        "LastModifiedAt": billbee_time(modified),
        "InvoiceAddress": {"LastName": "Muster"},
        **extra,
    }


def paging(page: int, pages: int, rows: int) -> Paging:
    return Paging(page=page, page_size=2, total_pages=pages, total_rows=rows)


def make_feed(db: Database, tenant_id: int, resource: Resource = Resource.ORDERS) -> int:
    with db.session() as session:
        feed = Feed(tenant_id=tenant_id, resource=resource, started_at=T0, cursor=T0)
        session.add(feed)
        session.commit()
        return feed.id


def run_page(
    db: Database, feed_id: int, rows: list[dict[str, Any]], page: Paging, now: datetime
) -> list[FeedEvent]:
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        outcome = apply_page(session, feed, rows, page, key=KEY, now=now)
        session.commit()
        for event in outcome.events:
            session.refresh(event)
        session.expunge_all()
        return outcome.events


def begin(db: Database, feed_id: int, settings: Settings, now: datetime) -> Feed:
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        start_pass(feed, settings, now)
        session.commit()
        session.expunge(feed)
        return feed


def one_page_pass(
    db: Database, feed_id: int, settings: Settings, rows: list[dict[str, Any]], now: datetime
) -> list[FeedEvent]:
    """A whole pass of one page holding ``rows`` (one row: the usual case here)."""
    begin(db, feed_id, settings, now)
    return run_page(db, feed_id, rows, paging(1, 1, len(rows)), now)


def all_events(db: Database, tenant_id: int) -> list[tuple[str, str, list[str] | None]]:
    with db.session() as session:
        return [
            (e.type.value, e.record_id, e.changed)
            for e in session.scalars(
                select(FeedEvent).where(FeedEvent.tenant_id == tenant_id).order_by(FeedEvent.id)
            )
        ]


def test_a_record_read_again_in_the_overlap_of_the_next_pass_is_not_told_twice(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(feed_overlap_seconds=120)
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    now = T0 + timedelta(seconds=30)
    one_page_pass(db, feed_id, settings, [order(1, T0 + timedelta(seconds=20))], now)
    later = now + timedelta(seconds=30)
    second = begin(db, feed_id, settings, later)
    # The second pass reads back from the first pass's start less the overlap.
    assert second.pass_from == now - timedelta(seconds=120)
    run_page(db, feed_id, [order(1, T0 + timedelta(seconds=20))], paging(1, 1, 1), later)
    assert all_events(db, tenant) == [("order.created", "1", None)]


def test_a_record_met_on_two_pages_of_one_pass_makes_one_event(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    now = T0 + timedelta(seconds=30)
    begin(db, feed_id, settings, now)
    stamp = T0 + timedelta(seconds=10)
    run_page(db, feed_id, [order(1, stamp), order(2, stamp)], paging(1, 2, 3), now)
    # A row pushed across the page boundary shows up again on page 2.
    run_page(db, feed_id, [order(2, stamp), order(3, stamp)], paging(2, 2, 3), now)
    assert [r for _, r, _ in all_events(db, tenant)] == ["1", "2", "3"]


def test_a_change_within_the_same_second_is_told_with_the_fields_that_changed(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    stamp = T0 + timedelta(seconds=10)
    one_page_pass(db, feed_id, settings, [order(1, stamp, state=1)], stamp)
    # Same modification time (Billbee writes whole seconds), another state.
    one_page_pass(db, feed_id, settings, [order(1, stamp, state=3)], stamp)
    assert all_events(db, tenant) == [
        ("order.created", "1", None),
        ("order.changed", "1", ["State"]),
    ]


def test_a_record_whose_time_went_back_with_other_fields_is_told(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    now = T0 + timedelta(seconds=60)
    one_page_pass(db, feed_id, settings, [order(1, T0 + timedelta(seconds=50), state=3)], now)
    # Two writers of the order: the one that read the clock first wrote last. The page
    # holds the order as it is now: its newest state, stamped earlier.
    one_page_pass(db, feed_id, settings, [order(1, T0 + timedelta(seconds=40), state=2)], now)
    assert all_events(db, tenant) == [
        ("order.created", "1", None),
        ("order.changed", "1", ["State"]),
    ]


def test_a_record_read_again_at_an_older_time_with_the_same_fields_makes_no_event(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    now = T0 + timedelta(seconds=60)
    one_page_pass(db, feed_id, settings, [order(1, T0 + timedelta(seconds=50), state=3)], now)
    one_page_pass(db, feed_id, settings, [order(1, T0 + timedelta(seconds=40), state=3)], now)
    assert [t for t, _, _ in all_events(db, tenant)] == ["order.created"]


def test_a_change_written_late_behind_the_cursor_is_caught_by_the_overlap(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    # Billbee's clock runs behind ours (or it commits late): a change stamped before the
    # cursor appears only after the pass that moved the cursor past it.
    settings = settings_factory(feed_overlap_seconds=60)
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    first_start = T0 + timedelta(seconds=100)
    begin(db, feed_id, settings, first_start)
    run_page(db, feed_id, [], paging(1, 0, 0), first_start)
    second = begin(db, feed_id, settings, first_start + timedelta(seconds=15))
    late = order(7, first_start - timedelta(seconds=20))
    assert second.pass_from is not None and second.pass_from <= first_start - timedelta(seconds=20)
    run_page(db, feed_id, [late], paging(1, 1, 1), first_start + timedelta(seconds=15))
    assert [r for _, r, _ in all_events(db, tenant)] == ["7"]


def test_a_pass_whose_pages_moved_under_it_reads_its_window_again(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    now = T0 + timedelta(seconds=30)
    first = begin(db, feed_id, settings, now)
    run_page(db, feed_id, [order(1, T0), order(2, T0)], paging(1, 2, 3), now)
    # Between the pages one more order matched: the total grew.
    run_page(db, feed_id, [order(3, T0), order(4, T0)], paging(2, 2, 4), now)
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None
        assert feed.cursor == first.cursor  # not moved: the next pass repeats the window
        assert feed.pass_from is None and feed.page == 1


def test_a_finished_pass_moves_the_cursor_to_when_it_began(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    now = T0 + timedelta(seconds=30)
    begin(db, feed_id, settings, now)
    run_page(db, feed_id, [order(1, T0)], paging(1, 1, 1), now + timedelta(seconds=5))
    with db.session() as session:
        feed = session.get(Feed, feed_id)
        assert feed is not None and feed.cursor == now


def test_the_fetch_asks_for_the_pass_window_and_page_by_billbee_names(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory(feed_page_size=50)
    feed_id = make_feed(db, bare_tenant(), Resource.STOCK)
    feed = begin(db, feed_id, settings, T0 + timedelta(seconds=5))
    assert fetch_params(feed, settings) == {
        "modifiedSince": "2026-03-01T12:00:00+00:00",
        "page": 1,
        "pageSize": 50,
    }


def test_events_of_a_feed_keep_the_order_they_were_read_in(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    for step in range(1, 4):
        now = T0 + timedelta(seconds=10 * step)
        begin(db, feed_id, settings, now)
        run_page(db, feed_id, [order(1, now, state=step)], paging(1, 1, 1), now)
    with db.session() as session:
        events = list(session.scalars(select(FeedEvent).order_by(FeedEvent.id)))
        assert [e.type for e in events] == [
            EventType.ORDER_CREATED,
            EventType.ORDER_CHANGED,
            EventType.ORDER_CHANGED,
        ]
        assert [e.modified_at for e in events] == sorted(e.modified_at for e in events)
        assert len({e.event_id for e in events}) == 3


def test_a_record_back_to_an_earlier_version_within_one_second_is_told_under_a_new_id(
    db: Database, bare_tenant: Callable[[], int], settings_factory: Callable[..., Settings]
) -> None:
    settings = settings_factory()
    tenant = bare_tenant()
    feed_id = make_feed(db, tenant)
    stamp = T0 + timedelta(seconds=10)
    # A state set and set back within one second (Billbee writes whole seconds), each
    # version read in between: the third read has the first one's time and digests.
    for state in (1, 3, 1):
        one_page_pass(db, feed_id, settings, [order(1, stamp, state=state)], stamp)
    assert all_events(db, tenant) == [
        ("order.created", "1", None),
        ("order.changed", "1", ["State"]),
        ("order.changed", "1", ["State"]),
    ]
    with db.session() as session:
        ids = session.scalars(select(FeedEvent.event_id).where(FeedEvent.tenant_id == tenant))
        assert len(set(ids)) == 3
