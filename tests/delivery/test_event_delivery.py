"""Feed events reach the subscribed callbacks in order, at least once, with stable ids."""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from flask import Flask, request
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import select, text
from support.factories import add_tenant

from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.delivery.events import (
    collect_events,
    drain,
    drain_job_id,
    drain_lock,
    drain_lock_name,
    ensure_drains,
    holds,
    renewed,
)
from billhive.delivery.models import CallbackDelivery, DeliveryStatus
from billhive.delivery.send import CallbackFailed, delivery_client, run_delivery
from billhive.delivery.signing import new_salt
from billhive.feeds.models import EventType, FeedEvent, Resource
from billhive.tenants.vault import Vault
from billhive.tokens.models import ApiToken


class Hook:
    """A live receiver that records posts and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], dict[str, Any]]] = []
        self.status = 200
        self.app = Flask("hook")
        self.app.add_url_rule("/hook", "hook", self._post, methods=["POST"])

    def _post(self) -> tuple[str, int]:
        self.received.append((dict(request.headers), json.loads(request.get_data())))
        return "", self.status


@pytest.fixture
def hook(live_server_factory: Callable[[Any], Any]) -> Iterator[tuple[Hook, str]]:
    receiver = Hook()
    yield receiver, f"{live_server_factory(receiver.app).url}/hook"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db: Database) -> Settings:
    """Loopback receivers allow-listed (as an operator would for a private network)."""
    return settings_factory(callback_allowed_networks="127.0.0.0/8")


def _tenant(db: Database, settings: Settings) -> int:
    with db.session() as session:
        tenant = add_tenant(session, Vault.from_settings(settings))
        session.commit()
        return tenant.id


def _token(
    db: Database, url: str, events: list[str] | None, tenants: list[int] | None = None
) -> int:
    with db.session() as session:
        token = ApiToken(
            public_id=new_salt()[:16],
            secret_hash="0" * 64,
            name="hook",
            callback_url=url,
            callback_salt=new_salt(),
            callback_registered_at=utcnow(),
            callback_events=events,
            callback_tenant_ids=tenants,
        )
        session.add(token)
        session.commit()
        return token.id


def _event(db: Database, tenant_id: int, n: int, kind: EventType = EventType.ORDER_CHANGED) -> None:
    with db.session() as session:
        session.add(
            FeedEvent(
                event_id=f"evt_{tenant_id}_{n}",
                tenant_id=tenant_id,
                resource=Resource.ORDERS,
                type=kind,
                record_id=str(n),
                changed=["State"],
            )
        )
        session.commit()


def _three_announced(
    db: Database, settings: Settings, redis: Redis, url: str
) -> tuple[int, int, int]:
    """A tenant with three order.changed events, a token taking them at ``url``, and the
    events announced: (tenant id, token id, how many the collector announced)."""
    tenant = _tenant(db, settings)
    token = _token(db, url, ["order.changed"])
    for n in range(3):
        _event(db, tenant, n)
    with db.session() as session:
        return tenant, token, collect_events(session, redis)


def _drain(db: Database, settings: Settings, token_id: int) -> int:
    with delivery_client(settings) as client, db.session() as session:
        return drain(session, token_id, lambda d: run_delivery(settings, db, d, client))


def test_events_are_posted_in_order_with_their_stable_ids(
    db: Database, settings: Settings, redis_client: Redis, hook: tuple[Hook, str]
) -> None:
    receiver, url = hook
    tenant, token, announced = _three_announced(db, settings, redis_client, url)
    assert announced == 3
    assert _drain(db, settings, token) == 3
    ids = [headers["Billhive-Event-Id"] for headers, _ in receiver.received]
    assert ids == [f"evt_{tenant}_{n}" for n in range(3)]
    _, body = receiver.received[0]
    assert body["event"] == "order.changed" and body["data"]["changed"] == ["State"]
    assert receiver.received[0][0]["Billhive-Event"] == "order.changed"


def test_a_refused_event_holds_the_later_ones_until_it_goes(
    db: Database, settings: Settings, redis_client: Redis, hook: tuple[Hook, str]
) -> None:
    receiver, url = hook
    tenant, token, _ = _three_announced(db, settings, redis_client, url)
    receiver.status = 503
    with pytest.raises(CallbackFailed):
        _drain(db, settings, token)
    assert len(receiver.received) == 1  # the second and third waited
    receiver.status = 200
    assert _drain(db, settings, token) == 3
    ids = [h["Billhive-Event-Id"] for h, _ in receiver.received]
    # At least once: the first was sent again, under the same id, before the others.
    assert ids == [f"evt_{tenant}_0", f"evt_{tenant}_0", f"evt_{tenant}_1", f"evt_{tenant}_2"]


def test_a_callback_gets_only_the_types_and_tenants_it_chose(
    db: Database, settings: Settings, redis_client: Redis, hook: tuple[Hook, str]
) -> None:
    _, url = hook
    wanted, other = _tenant(db, settings), _tenant(db, settings)
    token = _token(db, url, ["stock.changed"], tenants=[wanted])
    calls_only = _token(db, url, None)
    _event(db, wanted, 1, EventType.STOCK_CHANGED)
    _event(db, wanted, 2, EventType.ORDER_CHANGED)
    _event(db, other, 3, EventType.STOCK_CHANGED)
    with db.session() as session:
        collect_events(session, redis_client)
        rows = session.scalars(select(CallbackDelivery)).all()
        assert {(r.token_id, r.feed_event_id) for r in rows} == {
            (token, session.scalars(select(FeedEvent.id).where(FeedEvent.record_id == "1")).one())
        }
        assert all(r.token_id != calls_only for r in rows)
        assert all(r.status is DeliveryStatus.PENDING for r in rows)


def _drain_started_then_orphaned(redis: Redis, token_id: int, ago: float = 60.0) -> Job:
    """A drain job as RQ leaves it when its worker is SIGKILLed mid-drain and Redis keeps
    its data: still marked started, ``ago`` seconds ago."""
    ensure_drains(redis, [token_id])
    job = Job.fetch(drain_job_id(token_id), connection=redis)
    job.started_at = datetime.now(UTC) - timedelta(seconds=ago)
    job.save()
    job.set_status(JobStatus.STARTED)
    return job


def test_a_drain_left_started_by_a_dead_worker_is_queued_again_once_its_lock_expired(
    redis_client: Redis,
) -> None:
    _drain_started_then_orphaned(redis_client, 7)
    ensure_drains(redis_client, [7])
    job = Job.fetch(drain_job_id(7), connection=redis_client)
    assert job.get_status() == JobStatus.QUEUED


def test_a_drain_that_started_a_moment_ago_and_has_not_yet_taken_its_lock_is_left_to_run(
    redis_client: Redis,
) -> None:
    _drain_started_then_orphaned(redis_client, 7, ago=1.0)
    ensure_drains(redis_client, [7])
    job = Job.fetch(drain_job_id(7), connection=redis_client)
    assert job.get_status() == JobStatus.STARTED


def test_a_started_drain_that_holds_its_lock_is_left_to_run(redis_client: Redis) -> None:
    _drain_started_then_orphaned(redis_client, 7)
    assert drain_lock(redis_client, 7).acquire(blocking=False)
    ensure_drains(redis_client, [7])
    job = Job.fetch(drain_job_id(7), connection=redis_client)
    assert job.get_status() == JobStatus.STARTED


def test_a_drains_lock_is_renewed_while_it_runs_and_expires_once_it_stopped(
    redis_client: Redis,
) -> None:
    lock = drain_lock(redis_client, 7, timeout=1.0)
    assert lock.acquire(blocking=False)
    with renewed(lock, every=0.2):
        time.sleep(2.5)  # well past the lock's timeout
        assert redis_client.exists(drain_lock_name(7))
    time.sleep(1.5)  # a holder that died renews nothing
    assert not redis_client.exists(drain_lock_name(7))


def test_a_drain_whose_lock_was_taken_by_another_stops_before_its_next_delivery(
    db: Database,
    settings: Settings,
    redis_client: Redis,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    _, token, _ = _three_announced(db, settings, redis_client, url)
    lock = drain_lock(redis_client, token, timeout=1.0)
    assert lock.acquire(blocking=False)
    other = drain_lock(redis_client, token)
    with (
        renewed(lock, every=0.1) as lost,
        delivery_client(settings) as client,
        db.session() as session,
    ):

        def send(delivery_id: int) -> str:
            outcome = run_delivery(settings, db, delivery_id, client)
            # The lease ran out while this delivery was sent (a stalled Redis, a paused
            # process) and a second drain took the lock.
            redis_client.delete(drain_lock_name(token))
            assert other.acquire(blocking=False)
            assert lost.wait(5.0)
            return outcome

        assert drain(session, token, send, holds(lock, lost)) == 1
    assert len(receiver.received) == 1  # the second drain sends the other two
    with db.session() as session:
        statuses = session.scalars(
            select(CallbackDelivery.status).order_by(CallbackDelivery.id)
        ).all()
    assert statuses == [DeliveryStatus.DELIVERED, DeliveryStatus.PENDING, DeliveryStatus.PENDING]


# -- sequence numbers (the pull API's cursor) -------------------------------------------


def _seqs_by_id(db: Database) -> list[int | None]:
    with db.session() as session:
        return list(session.scalars(select(FeedEvent.seq).order_by(FeedEvent.id)))


def _wait_for_a_lock_wait(db: Database, timeout: float = 10.0) -> None:
    """Until a backend of this database waits for a lock another transaction holds."""
    deadline = time.monotonic() + timeout
    query = text(
        "SELECT count(*) FROM pg_stat_activity"
        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
    )
    while time.monotonic() < deadline:
        with db.engine.connect() as conn:
            if conn.scalar(query):
                return
        time.sleep(0.02)
    raise AssertionError("no transaction came to wait for a lock")


def test_the_collector_numbers_events_in_id_order_from_one(
    db: Database, settings: Settings, redis_client: Redis
) -> None:
    tenant = _tenant(db, settings)
    for n in range(5):
        _event(db, tenant, n)
    with db.session() as session:
        collect_events(session, redis_client, limit=3)  # two batches
    assert _seqs_by_id(db) == [1, 2, 3, 4, 5]


def test_events_committed_after_a_collection_are_numbered_after_its_events(
    db: Database, settings: Settings, redis_client: Redis
) -> None:
    tenant = _tenant(db, settings)
    _event(db, tenant, 0)
    with db.session() as session:
        collect_events(session, redis_client)
    _event(db, tenant, 1)
    assert _seqs_by_id(db) == [1, None]  # not numbered until announced
    with db.session() as session:
        collect_events(session, redis_client)
    assert _seqs_by_id(db) == [1, 2]


@pytest.mark.postgres_only
def test_a_collector_that_drew_numbers_another_committed_first_rolls_back_and_numbers_after(
    db: Database, settings: Settings, redis_client: Redis
) -> None:
    """The other announcer's event is one this collector could not see (inserted in the
    other's transaction): both draw seq 1, the unique index makes this one wait and fail,
    and its next round numbers its event 2."""
    tenant = _tenant(db, settings)
    _event(db, tenant, 0)
    announced: list[int] = []
    with db.sessionmaker() as other:
        other.add(
            FeedEvent(
                event_id=f"evt_{tenant}_other",
                tenant_id=tenant,
                resource=Resource.ORDERS,
                type=EventType.ORDER_CHANGED,
                record_id="other",
                announced_at=utcnow(),
                seq=1,
            )
        )
        other.flush()

        def collect() -> None:
            with db.session() as session:
                announced.append(collect_events(session, redis_client))

        collector = threading.Thread(target=collect)
        collector.start()
        _wait_for_a_lock_wait(db)
        other.commit()
        collector.join(timeout=30)
    assert announced == [0]
    with db.session() as session:
        assert collect_events(session, redis_client) == 1
        seq = session.scalar(select(FeedEvent.seq).where(FeedEvent.event_id == f"evt_{tenant}_0"))
    assert seq == 2


@pytest.mark.postgres_only
def test_racing_writers_and_collectors_leave_no_gap_and_a_reader_by_seq_misses_nothing(
    db: Database, settings: Settings, redis_client: Redis
) -> None:
    """Writers hold their transactions open for a while (so ids commit out of order), two
    collectors run at once, and a reader pages by seq as the pull API does."""
    tenant = _tenant(db, settings)
    writers_done = threading.Event()
    errors: list[BaseException] = []
    read: list[str] = []

    def guarded(work: Callable[[], None]) -> Callable[[], None]:
        def run() -> None:
            try:
                work()
            except BaseException as exc:  # noqa: BLE001 (the test thread reports it)
                errors.append(exc)

        return run

    def write(writer: int) -> None:
        rng = random.Random(writer)
        for n in range(25):
            with db.session() as session:
                session.add(
                    FeedEvent(
                        event_id=f"evt_{writer}_{n}",
                        tenant_id=tenant,
                        resource=Resource.ORDERS,
                        type=EventType.ORDER_CHANGED,
                        record_id=f"{writer}-{n}",
                    )
                )
                session.flush()  # the id is drawn here
                time.sleep(rng.uniform(0, 0.03))
                session.commit()

    def collect() -> None:
        while not writers_done.is_set():
            with db.session() as session:
                collect_events(session, redis_client, limit=7)

    def pull() -> None:
        cursor, last_round = 0, False
        while True:
            with db.session() as session:
                rows = session.execute(
                    select(FeedEvent.seq, FeedEvent.event_id)
                    .where(FeedEvent.seq > cursor)
                    .order_by(FeedEvent.seq)
                ).all()
            read.extend(event_id for _, event_id in rows)
            cursor = rows[-1][0] if rows else cursor
            if last_round:
                return
            last_round = writers_done.is_set() and collectors_done.is_set()
            time.sleep(0.005)

    collectors_done = threading.Event()
    writers = [threading.Thread(target=guarded(lambda w=w: write(w))) for w in range(3)]
    collectors = [threading.Thread(target=guarded(collect)) for _ in range(2)]
    reader = threading.Thread(target=guarded(pull))
    for thread in [*writers, *collectors, reader]:
        thread.start()
    for thread in writers:
        thread.join(timeout=60)
    writers_done.set()
    for thread in collectors:
        thread.join(timeout=60)
    with db.session() as session:
        collect_events(session, redis_client)  # what the racing rounds left
    collectors_done.set()
    reader.join(timeout=60)
    assert errors == []
    seqs = _seqs_by_id(db)
    assert sorted(s for s in seqs if s is not None) == list(range(1, 76))
    assert sorted(read) == sorted(f"evt_{w}_{n}" for w in range(3) for n in range(25))


def test_a_drain_paused_past_its_lock_sends_nothing_more_before_its_renewal_notices(
    db: Database,
    settings: Settings,
    redis_client: Redis,
    hook: tuple[Hook, str],
) -> None:
    receiver, url = hook
    _, token, _ = _three_announced(db, settings, redis_client, url)
    lock = drain_lock(redis_client, token)
    assert lock.acquire(blocking=False)
    other = drain_lock(redis_client, token)
    with (
        renewed(lock, every=60.0) as lost,  # the renewal thread sleeps through it all
        delivery_client(settings) as client,
        db.session() as session,
    ):

        def send(delivery_id: int) -> str:
            outcome = run_delivery(settings, db, delivery_id, client)
            # The process stalled past the lock's expiry and a second drain took it.
            redis_client.delete(drain_lock_name(token))
            assert other.acquire(blocking=False)
            return outcome

        assert drain(session, token, send, holds(lock, lost)) == 1
        assert not lost.is_set()
    assert len(receiver.received) == 1
