"""One page of a feed: the call that asks for it, and turning its answer into events.

A feed reads in *passes*. A pass asks for every record modified (orders; created for
shipments; stock changed for stock) since ``pass_from`` = the cursor less the overlap,
page by page. Each record is compared with what the feed last saw of it
(:class:`~billhive.feeds.models.FeedRecord`): a record seen with the same field digests
is skipped, so the overlap between passes and a record met twice at a page boundary
never make a second event; other digests are a change, whatever its time. A pass that ends moves the
cursor to the moment its first page was asked for (changes after it are read by the next
pass; the overlap covers the clocks' difference). A pass of several pages that saw the
result move under it (the total changed, or a record changed after the pass began) keeps
its cursor, so the next pass reads the same window again: a record pushed from one page
to the one already read is not lost.

The page's answer reaches :func:`consume_page` inside the worker's job, in the
transaction that records the call's success (workers/consumers.py): events, records,
the feed's new state and the call's outcome commit together.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.billbee.envelope import BillbeeResponse, Paging
from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds import records
from billhive.feeds.models import EventType, Feed, FeedEvent, FeedRecord
from billhive.feeds.records import SPECS, ResourceSpec
from billhive.feeds.schedule import is_triggered, next_poll_at, reconcile_due
from billhive.logs import get_logger
from billhive.workers.models import Call
from billhive.workers.runtime import get_runtime

#: The consumer name feed fetch calls carry (workers/consumers.py).
CONSUMER = "billhive.feeds.fetch:consume_page"

log = get_logger(__name__)


@dataclass
class PageOutcome:
    """What one page did to its feed."""

    events: list[FeedEvent]
    pass_done: bool


def fetch_params(feed: Feed, settings: Settings) -> dict[str, Any]:
    """The parameters of the call that asks for the feed's next page."""
    spec = SPECS[feed.resource]
    assert feed.pass_from is not None
    return {
        spec.since_param: records.billbee_time(feed.pass_from),
        "page": feed.page,
        "pageSize": settings.feed_page_size,
    }


def start_pass(feed: Feed, settings: Settings, now: datetime) -> None:
    """Begin a pass at page 1, reading back from the cursor by the overlap (the feed's
    very first pass starts where the feed was switched on)."""
    overlap = timedelta(seconds=settings.feed_overlap_seconds)
    first = feed.last_polled_at is None and feed.cursor <= feed.started_at
    feed.pass_from = feed.started_at if first else feed.cursor - overlap
    if reconcile_due(feed, settings, now):
        # Now and then read back a whole window: what the overlap missed is caught here.
        window = timedelta(seconds=settings.feed_reconcile_seconds) + overlap
        feed.pass_from = max(feed.started_at, min(feed.pass_from, now - window))
        feed.last_reconciled_at = now
    feed.pass_started_at = now
    feed.page = 1
    feed.pass_total_rows = None
    feed.pass_unstable = False


def _rows(data: Any) -> list[Mapping[str, Any]]:
    if not isinstance(data, list):
        return []
    return [row for row in data if isinstance(row, Mapping)]


def _record_id(spec: ResourceSpec, row: Mapping[str, Any]) -> str | None:
    value = row.get(spec.id_field)
    if value is None or isinstance(value, bool):
        return None
    text = str(value)
    return text if 0 < len(text) <= 64 else None


def apply_page(
    session: Session,
    feed: Feed,
    rows: Sequence[Mapping[str, Any]],
    paging: Paging | None,
    *,
    key: bytes,
    now: datetime,
) -> PageOutcome:
    """Turn one page's records into events and move the feed on (no commit)."""
    spec = SPECS[feed.resource]
    ids = [i for i in (_record_id(spec, r) for r in rows) if i is not None]
    known = {
        r.record_id: r
        for r in session.scalars(
            select(FeedRecord).where(FeedRecord.feed_id == feed.id, FeedRecord.record_id.in_(ids))
        )
    }
    events: list[FeedEvent] = []
    for row in rows:
        record_id = _record_id(spec, row)
        if record_id is None:
            continue
        event = _compare(session, feed, spec, record_id, row, known=known, key=key, now=now)
        if event is None:
            continue
        events.append(event)
        began = feed.pass_started_at
        if feed.page > 1 and began and event.modified_at and event.modified_at >= began:
            # A record changed after the pass began: pages may have shifted under it.
            feed.pass_unstable = True
    session.add_all(events)
    total_pages = paging.total_pages if paging is not None else 1
    total_rows = paging.total_rows if paging is not None else len(rows)
    if feed.page == 1:
        feed.pass_total_rows = total_rows
    elif feed.pass_total_rows != total_rows:
        feed.pass_unstable = True
    if events:
        feed.last_change_at = now
    done = feed.page >= max(1, total_pages) or not rows
    if done:
        if not (feed.pass_unstable and feed.page > 1):
            assert feed.pass_started_at is not None
            feed.cursor = max(feed.cursor, feed.pass_started_at)
        feed.pass_from = feed.pass_started_at = None
        feed.pass_total_rows = None
        feed.pass_unstable = False
        feed.page = 1
    else:
        feed.page += 1
    feed.last_polled_at = now
    feed.failures = 0
    return PageOutcome(events, done)


def _compare(
    session: Session,
    feed: Feed,
    spec: ResourceSpec,
    record_id: str,
    row: Mapping[str, Any],
    *,
    known: dict[str, FeedRecord],
    key: bytes,
    now: datetime,
) -> FeedEvent | None:
    """The event one record makes (None: nothing new), and what the feed now knows of it."""
    modified = records.parse_time(row.get(spec.modified_field)) if spec.modified_field else None
    created = records.parse_time(row.get(spec.created_field)) if spec.created_field else None
    fields = records.digest(row, key)
    seen = known.get(record_id)
    if seen is not None:
        # Only the digests decide, not the times: a page holds each record as it is now
        # (one fetch of a feed at a time, a stale answer is never taken), so a record
        # whose time went back with other fields is a change stamped by an earlier clock
        # reading and written later (two writers of one order), not an old version.
        changed = records.changed_fields(seen.digest, fields)
        if not changed or spec.changed_event is None:
            seen.modified_at = modified or seen.modified_at
            return None
        before = _version(seen.modified_at, seen.digest)
        seen.modified_at, seen.digest, seen.seen_at = modified, fields, now
        return _event(
            feed,
            spec.changed_event,
            record_id,
            modified,
            changed=changed,
            fields=fields,
            before=before,
        )
    record = FeedRecord(
        feed_id=feed.id, record_id=record_id, modified_at=modified, digest=fields, seen_at=now
    )
    session.add(record)
    known[record_id] = record
    # Billbee writes whole seconds: an order of the second the feed started is new too.
    since = feed.started_at.replace(microsecond=0)
    if spec.created_event is not None and (created is None or created >= since):
        return _event(
            feed, spec.created_event, record_id, modified or created, changed=None, fields=fields
        )
    if spec.changed_event is not None:
        # First sight of a record older than the feed: changed, but not known how.
        return _event(feed, spec.changed_event, record_id, modified, changed=None, fields=fields)
    return None


def _version(modified: datetime | None, fields: Mapping[str, str]) -> str:
    """One version of a record: its modification time and field digests."""
    stamp = modified.isoformat() if modified else ""
    return stamp + "|" + "|".join(f"{k}={v}" for k, v in sorted(fields.items()))


def _event(
    feed: Feed,
    kind: EventType,
    record_id: str,
    modified: datetime | None,
    *,
    changed: list[str] | None,
    fields: Mapping[str, str],
    before: str | None = None,
) -> FeedEvent:
    version = _version(modified, fields)
    if before is not None:
        # A change is from one version to another: a record that returns to an earlier
        # version within one second (Billbee writes whole seconds) is a new change, and
        # under the earlier change's id the unique key would refuse it, failing the page
        # on every retry and holding the whole feed. Read again, the change has the same
        # previous version (it is kept with the event), so the same id.
        version = f"{version}|from|{before}"
    return FeedEvent(
        event_id=records.event_id(feed.tenant_id, feed.resource, record_id, version),
        tenant_id=feed.tenant_id,
        resource=feed.resource,
        type=kind,
        record_id=record_id,
        modified_at=modified,
        changed=changed,
    )


def _matches(feed: Feed, asked: Mapping[str, Any], settings: Settings) -> bool:
    """The call asked (``asked``: its parameters) for the page the feed waits for (not a
    stale or duplicate fetch)."""
    if not feed.enabled or feed.pass_from is None:
        return False
    expected = fetch_params(feed, settings)
    since = SPECS[feed.resource].since_param
    try:
        page = int(asked.get("page", 0))
    except (TypeError, ValueError):
        return False
    return page == feed.page and str(asked.get(since)) == expected[since]


def consume_page(
    session: Session, call: Call, params: Mapping[str, Any], response: BillbeeResponse
) -> dict[str, Any]:
    """The consumer of a feed fetch call (runs in the worker's job, before the commit)."""
    resource = records.BY_OPERATION.get(call.operation)
    if resource is None:
        return {"feed": None, "ignored": "not a feed operation"}
    feed = session.scalars(
        select(Feed)
        .where(Feed.tenant_id == call.tenant_id, Feed.resource == resource)
        .with_for_update()
    ).one_or_none()
    settings = get_runtime().settings
    if feed is None or not _matches(feed, params, settings):
        return {"feed": feed.id if feed else None, "ignored": "stale fetch"}
    page = feed.page
    key = records.digest_key(settings.require("secret_key"))
    outcome = apply_page(
        session, feed, _rows(response.data), response.paging, key=key, now=utcnow()
    )
    if feed.call_id in (None, call.id):
        feed.call_id = None
    if feed.triggered_at is not None and feed.triggered_at <= call.enqueued_at:
        feed.triggered_at = None  # asked after the trigger came: the trigger is answered
    now = utcnow()
    if is_triggered(feed, now):
        pass  # a webhook came while this page was asked for: read again at once, first
    elif not outcome.pass_done:
        feed.next_poll_at = now  # the next page at once
    else:
        feed.next_poll_at = next_poll_at(feed, settings, now)
    log.info(
        "feed_page",
        feed_id=feed.id,
        page=page,
        events=len(outcome.events),
        pass_done=outcome.pass_done,
    )
    return {"feed": feed.id, "page": page, "events": len(outcome.events)}
