"""Lanes and the ordering rule: reads side by side, writes in order of their key, urgent
calls before a tenant's queued bulk work, the background lane's bounded share."""

from __future__ import annotations

from collections import Counter

import pytest
from redis import Redis

from billhive.workers.scheduling.buckets import encode_buckets
from billhive.workers.scheduling.dispatcher import (
    BACKGROUND,
    BULK,
    INTERACTIVE,
    READ,
    RQ_JOB_KEY_PREFIX,
    WRITE,
    Dispatched,
    Dispatcher,
    Order,
    Wait,
)
from billhive.workers.scheduling.scripts import BUCKETS_FIELD

T0 = 1_800_000_000.0


@pytest.fixture
def dispatcher(redis_client: Redis) -> Dispatcher:
    return Dispatcher(redis_client, jitter_allowance=0.0, shared_headroom=0)


def push(
    dispatcher: Dispatcher,
    tenant: str,
    job: str,
    order: Order = WRITE,
    lane: str = INTERACTIVE,
) -> None:
    dispatcher.connection.hset(RQ_JOB_KEY_PREFIX + job, BUCKETS_FIELD, encode_buckets([]))
    dispatcher.push(tenant, job, lane=lane, order=order, now=T0)


def pop_all(dispatcher: Dispatcher) -> list[Dispatched]:
    """Every job that may start now (none finishes meanwhile)."""
    started = []
    while isinstance(decision := dispatcher.pop(now=T0), Dispatched):
        started.append(decision)
    return started


def ids(started: list[Dispatched]) -> list[str]:
    return [d.job_id for d in started]


def finish(dispatcher: Dispatcher, started: list[Dispatched], job: str) -> None:
    (flight,) = [d for d in started if d.job_id == job]
    assert dispatcher.release(flight.tenant_id, flight.token, now=T0)


def key(name: str) -> Order:
    return Order(key=name)


def read_of(name: str) -> Order:
    return Order(write=False, key=name)


def test_reads_of_one_tenant_run_side_by_side(dispatcher: Dispatcher) -> None:
    for n in range(5):
        push(dispatcher, "t", f"r{n}", READ)
    assert ids(pop_all(dispatcher)) == ["r0", "r1", "r2", "r3", "r4"]


def test_a_read_waits_for_an_earlier_write_of_its_tenant_to_finish(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "w1", key("order:1"))
    push(dispatcher, "t", "r1", READ)
    started = pop_all(dispatcher)
    assert ids(started) == ["w1"]
    finish(dispatcher, started, "w1")
    assert ids(pop_all(dispatcher)) == ["r1"]


def test_a_keyed_read_waits_only_for_writes_of_its_key(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "w-other", key("order:2"))
    push(dispatcher, "t", "w-mine", key("order:1"))
    push(dispatcher, "t", "r-mine", read_of("order:1"))
    started = pop_all(dispatcher)
    assert ids(started) == ["w-other", "w-mine"]
    finish(dispatcher, started, "w-mine")
    assert ids(pop_all(dispatcher)) == ["r-mine"]  # w-other is still in flight


def test_a_keyed_read_waits_for_an_earlier_whole_tenant_write(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "w-all", WRITE)
    push(dispatcher, "t", "r-mine", read_of("order:1"))
    started = pop_all(dispatcher)
    assert ids(started) == ["w-all"]
    finish(dispatcher, started, "w-all")
    assert ids(pop_all(dispatcher)) == ["r-mine"]


def test_a_write_does_not_wait_for_reads_queued_before_it(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "r1", READ)
    push(dispatcher, "t", "w1", WRITE)
    assert ids(pop_all(dispatcher)) == ["r1", "w1"]


def test_writes_of_different_keys_run_side_by_side(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "a1", key("sku:A"))
    push(dispatcher, "t", "b1", key("sku:B"))
    assert ids(pop_all(dispatcher)) == ["a1", "b1"]


def test_writes_of_one_key_start_in_order_each_after_the_previous_finished(
    dispatcher: Dispatcher,
) -> None:
    push(dispatcher, "t", "a1", key("sku:A"), BULK)
    push(dispatcher, "t", "a2", key("sku:A"), INTERACTIVE)
    started = pop_all(dispatcher)
    assert ids(started) == ["a1"]  # the interactive one never overtakes a write of its key
    finish(dispatcher, started, "a1")
    assert ids(pop_all(dispatcher)) == ["a2"]


def test_a_whole_tenant_write_waits_for_every_earlier_write(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "a1", key("sku:A"))
    push(dispatcher, "t", "all", WRITE)
    push(dispatcher, "t", "b1", key("sku:B"))
    started = pop_all(dispatcher)
    assert ids(started) == ["a1"]  # b1 waits for the whole-tenant write before it
    finish(dispatcher, started, "a1")
    started = pop_all(dispatcher)
    assert ids(started) == ["all"]
    finish(dispatcher, started, "all")
    assert ids(pop_all(dispatcher)) == ["b1"]


def test_an_interactive_read_starts_before_the_tenants_queued_bulk_reads(
    redis_client: Redis,
) -> None:
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, candidates=2)
    for n in range(50):
        push(dispatcher, "t", f"bulk{n}", READ, BULK)
    first = dispatcher.pop(now=T0)
    assert isinstance(first, Dispatched) and first.job_id == "bulk0"
    push(dispatcher, "t", "urgent", READ, INTERACTIVE)
    decision = dispatcher.pop(now=T0)
    assert isinstance(decision, Dispatched)
    assert (decision.job_id, decision.lane) == ("urgent", INTERACTIVE)


def test_an_urgent_write_keyed_by_its_order_overtakes_queued_bulk_stock_writes(
    dispatcher: Dispatcher,
) -> None:
    for n in range(200):
        push(dispatcher, "t", f"stock{n}", Order(key=f"sku:{n % 7}", exclusive=True), BULK)
    assert isinstance(dispatcher.pop(now=T0), Dispatched)  # a stock batch in flight
    push(dispatcher, "t", "state", key("order:123"), INTERACTIVE)
    decision = dispatcher.pop(now=T0)
    assert isinstance(decision, Dispatched)
    assert decision.job_id == "state"


def test_an_exclusive_job_holds_its_lane_but_not_the_others(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "stock1", Order(key="sku:A", exclusive=True), BULK)
    push(dispatcher, "t", "stock2", Order(key="sku:B", exclusive=True), BULK)
    push(dispatcher, "t", "read", read_of("order:1"), INTERACTIVE)
    started = pop_all(dispatcher)
    assert sorted(ids(started)) == ["read", "stock1"]
    finish(dispatcher, started, "stock1")
    assert ids(pop_all(dispatcher)) == ["stock2"]


def test_followers_of_a_stock_batch_stop_at_a_write_that_must_come_first(
    dispatcher: Dispatcher,
) -> None:
    push(dispatcher, "t", "s1", Order(key="sku:A", exclusive=True), BULK)
    push(dispatcher, "t", "s2", Order(key="sku:A", exclusive=True), BULK)
    push(dispatcher, "t", "all", WRITE, INTERACTIVE)
    push(dispatcher, "t", "s3", Order(key="sku:B", exclusive=True), BULK)
    head = dispatcher.pop(now=T0)
    assert isinstance(head, Dispatched) and head.job_id == "s1"
    assert dispatcher.followers("t", BULK, "s1", 10) == ["s2"]


def test_whole_tenant_writes_queued_together_all_join_the_batch(dispatcher: Dispatcher) -> None:
    for job in ("w1", "w2", "w3"):
        push(dispatcher, "t", job, Order(exclusive=True))
    head = dispatcher.pop(now=T0)
    assert isinstance(head, Dispatched) and head.job_id == "w1"
    assert dispatcher.followers("t", INTERACTIVE, "w1", 10) == ["w2", "w3"]


def test_a_whole_tenant_write_does_not_join_a_batch_over_an_earlier_keyed_write(
    dispatcher: Dispatcher,
) -> None:
    push(dispatcher, "t", "w1", Order(exclusive=True))
    push(dispatcher, "t", "keyed", key("order:1"), BULK)
    push(dispatcher, "t", "w2", Order(exclusive=True))
    head = dispatcher.pop(now=T0)
    assert isinstance(head, Dispatched) and head.job_id == "w1"
    assert dispatcher.followers("t", INTERACTIVE, "w1", 10) == []


def test_a_read_does_not_join_a_read_batch_over_an_earlier_write_of_any_key(
    dispatcher: Dispatcher,
) -> None:
    push(dispatcher, "t", "r1", Order(write=False, key="", exclusive=True))
    push(dispatcher, "t", "keyed", key("sku:A"), BULK)
    push(dispatcher, "t", "r2", Order(write=False, key="", exclusive=True))
    head = dispatcher.pop(now=T0)
    assert isinstance(head, Dispatched) and head.job_id == "r1"
    assert dispatcher.followers("t", INTERACTIVE, "r1", 10) == []


def test_a_deferred_write_keeps_later_reads_waiting(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "w1", WRITE)
    push(dispatcher, "t", "r1", READ)
    started = pop_all(dispatcher)
    dispatcher.push("t", "w1", now=T0)  # RQ's retry: back to the head, still unfinished
    assert ids(pop_all(dispatcher)) == ["w1"]
    assert not dispatcher.release("t", started[0].token, now=T0)  # the stale dispatch


def test_a_cancelled_write_no_longer_holds_the_reads_after_it(dispatcher: Dispatcher) -> None:
    push(dispatcher, "t", "w1", key("order:1"))
    push(dispatcher, "t", "w2", key("order:2"))
    push(dispatcher, "t", "r1", READ)
    started = pop_all(dispatcher)
    assert ids(started) == ["w1", "w2"]
    finish(dispatcher, started, "w1")
    finish(dispatcher, started, "w2")
    push(dispatcher, "t", "w3", key("order:3"))
    push(dispatcher, "t", "r2", READ)
    dispatcher.discard("t", "w3")
    assert ids(pop_all(dispatcher)) == ["r1", "r2"]


def _shares(dispatcher: Dispatcher, pops: int) -> Counter[str]:
    lanes: Counter[str] = Counter()
    for _ in range(pops):
        decision = dispatcher.pop(now=T0)
        assert isinstance(decision, Dispatched)
        lanes[decision.lane] += 1
        dispatcher.release(decision.tenant_id, decision.token, now=T0)
    return lanes


def test_background_gets_its_share_while_other_lanes_have_work(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, background_share=0.1)
    for n in range(60):
        push(dispatcher, f"i{n % 6}", f"i{n}", READ, INTERACTIVE)
        push(dispatcher, f"g{n % 6}", f"g{n}", READ, BACKGROUND)
    lanes = _shares(dispatcher, 50)
    assert lanes[BACKGROUND] == 5


def test_background_gets_everything_when_no_other_lane_has_work(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, background_share=0.1)
    for n in range(10):
        push(dispatcher, "g", f"g{n}", READ, BACKGROUND)
    assert _shares(dispatcher, 10) == Counter({BACKGROUND: 10})


def test_bulk_gets_its_share_of_the_foreground_while_interactive_calls_wait(
    redis_client: Redis,
) -> None:
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, bulk_share=0.25)
    for n in range(80):
        push(dispatcher, f"i{n % 8}", f"i{n}", READ, INTERACTIVE)
        push(dispatcher, f"b{n % 8}", f"b{n}", READ, BULK)
    lanes = _shares(dispatcher, 40)
    assert (lanes[INTERACTIVE], lanes[BULK]) == (30, 10)


def test_a_lane_that_comes_back_gets_no_credit_for_its_idle_time(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, background_share=0.1)
    for n in range(100):
        push(dispatcher, f"i{n % 5}", f"i{n}", READ, INTERACTIVE)
    _shares(dispatcher, 50)
    for n in range(20):
        push(dispatcher, f"g{n % 5}", f"g{n}", READ, BACKGROUND)
    lanes = _shares(dispatcher, 20)
    assert lanes[BACKGROUND] == 2


def test_an_unknown_lane_is_refused_with_a_clear_error(dispatcher: Dispatcher) -> None:
    with pytest.raises(ValueError, match="lane must be one of"):
        dispatcher.push("t", "j", lane="urgent")


def test_a_tenant_with_nothing_it_may_start_leaves_the_others_to_run(
    dispatcher: Dispatcher,
) -> None:
    push(dispatcher, "a", "a-w", WRITE)
    push(dispatcher, "a", "a-r", READ)
    push(dispatcher, "b", "b-r", READ)
    started = pop_all(dispatcher)
    assert ids(started) == ["a-w", "b-r"]
    assert isinstance(dispatcher.pop(now=T0), Wait)
