"""The dispatcher after Redis lost data: no burst of calls Billbee would refuse."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Retry
from rq.job import Job

from billhive.billbee.limits import Bucket
from billhive.workers.queues import TenantJob, TenantQueue, enqueue_for_tenant
from billhive.workers.scheduling.dispatcher import (
    DEFAULT_JITTER_ALLOWANCE,
    Dispatched,
    Dispatcher,
    Wait,
)

JOB = "billhive.workers.queues.enqueue_for_tenant"  # never run here
KEY = Bucket("key", "key:k", 5, 1.0)
T0 = 1_800_000_000.0
HOLD = 1.035


def fill(redis: Redis, tenants: int) -> None:
    for n in range(tenants):
        enqueue_for_tenant(redis, f"t{n}", JOB, buckets=[KEY])


def test_a_dispatcher_finding_redis_emptied_holds_every_call_for_one_window(
    redis_client: Redis,
) -> None:
    dispatcher = Dispatcher(redis_client, cold_start_hold=HOLD)
    redis_client.delete("billhive:d:epoch")  # Redis came back without the dispatcher's past
    fill(redis_client, 3)
    decision = dispatcher.pop(now=T0)
    assert isinstance(decision, Wait)
    assert decision.until == pytest.approx(T0 + HOLD)
    assert isinstance(dispatcher.pop(now=T0 + HOLD + 0.001), Dispatched)


def test_the_key_window_is_never_overrun_across_a_loss(redis_client: Redis) -> None:
    """Five calls fill the key's window; Redis loses its data; in the window that follows
    the last of them, no call may start (Billbee still counts those five)."""
    dispatcher = Dispatcher(redis_client, cold_start_hold=HOLD)
    fill(redis_client, 10)
    starts = [T0 + 0.1 * n for n in range(5)]
    for at in starts:
        assert isinstance(dispatcher.pop(now=at), Dispatched)
    redis_client.flushdb()
    fill(redis_client, 10)
    after = starts[-1] + 0.05
    decision = dispatcher.pop(now=after)
    assert isinstance(decision, Wait)
    assert decision.until is not None and decision.until >= starts[-1] + 1.0


def test_a_dispatcher_without_a_cold_start_hold_does_not_wait(redis_client: Redis) -> None:
    redis_client.delete("billhive:d:epoch")
    fill(redis_client, 1)
    assert isinstance(Dispatcher(redis_client).pop(now=T0), Dispatched)


def test_a_hold_also_stops_a_job_taken_before_it_from_sending(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client)
    fill(redis_client, 1)
    decision = dispatcher.pop(now=T0)
    assert isinstance(decision, Dispatched)
    dispatcher.hold(HOLD, now=T0 + 0.01)
    assert dispatcher.restamp(decision.job_id, now=T0 + 0.02).wait == pytest.approx(HOLD - 0.01)


def test_a_longer_hold_is_kept(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client)
    assert dispatcher.hold(5.0, now=T0) == pytest.approx(T0 + 5.0)
    assert dispatcher.hold(1.0, now=T0 + 1) == pytest.approx(T0 + 5.0)


def test_remembered_calls_count_in_their_bucket_again(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client)
    order = Bucket("order_get", "order_get:k:u:7", 2, 60.0)
    added = dispatcher.remember(order, [(T0 - 10, "call-1"), (T0 - 5, "call-2")], now=T0)
    assert added == 2
    enqueue_for_tenant(redis_client, "t", JOB, buckets=[order])
    decision = dispatcher.pop(now=T0)
    assert isinstance(decision, Wait)
    # The oldest remembered call leaves the window (plus the jitter allowance) at T0 + 50.
    assert decision.until == pytest.approx(T0 + 50 + DEFAULT_JITTER_ALLOWANCE, abs=0.001)


def test_remembering_skips_calls_outside_the_window_and_calls_already_logged(
    redis_client: Redis,
) -> None:
    dispatcher = Dispatcher(redis_client)
    order = Bucket("order_get", "order_get:k:u:7", 6, 60.0)
    assert dispatcher.remember(order, [(T0 - 5, "call-1")], now=T0) == 1
    assert dispatcher.remember(order, [(T0 - 5, "call-1"), (T0 - 61, "call-0")], now=T0) == 0


def test_a_repair_push_never_queues_a_job_twice(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client)
    job = enqueue_for_tenant(redis_client, "t", JOB, buckets=[KEY])
    dispatcher.push("t", job.id, if_absent=True)
    assert TenantQueue.for_tenant("t", redis_client).job_ids == [job.id]
    decision = dispatcher.pop()
    assert isinstance(decision, Dispatched)
    dispatcher.push("t", job.id, if_absent=True)  # in flight: left alone
    assert TenantQueue.for_tenant("t", redis_client).job_ids == []


def test_a_job_rq_saves_again_keeps_its_limit_buckets(redis_client: Redis) -> None:
    """RQ's retry saves the job whole; if Redis lost the hash meanwhile, the buckets (which
    RQ does not know) must come back with it, or the job would run without limits."""
    job = enqueue_for_tenant(redis_client, "t", JOB, buckets=[KEY], retry=Retry(max=2))
    loaded = TenantJob.fetch(job.id, connection=redis_client)
    redis_client.delete(job.key)
    loaded.save()
    assert redis_client.hget(job.key, "billhive_buckets") == b"key:k\t5\t1.000000\t1"
    assert Job.fetch(job.id, connection=redis_client).func_name == JOB
