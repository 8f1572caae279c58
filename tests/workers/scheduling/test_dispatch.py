"""The dispatcher's scheduling rules on a real Redis: order, fairness, isolation, pausing."""

from __future__ import annotations

import pytest
from redis import Redis
from support.dispatch import add_jobs

from billhive.billbee.limits import Bucket
from billhive.workers.scheduling.buckets import BucketSpecError, encode_bucket
from billhive.workers.scheduling.dispatcher import Dispatched, Dispatcher, TenantIdError, Wait

T0 = 1_800_000_000.0


@pytest.fixture
def dispatcher(redis_client: Redis) -> Dispatcher:
    return Dispatcher(redis_client, jitter_allowance=0.0, shared_headroom=0)


def endpoint(tenant: str, limit: int = 2, period: float = 1.0) -> Bucket:
    return Bucket("endpoint", f"endpoint:k:{tenant}:orders.list", limit, period)


def go(decision: Dispatched | Wait) -> Dispatched:
    assert isinstance(decision, Dispatched), decision
    return decision


def run_one(dispatcher: Dispatcher, now: float = T0) -> Dispatched:
    """Pop one job and finish it at once."""
    job = go(dispatcher.pop(now=now))
    dispatcher.release(job.tenant_id, job.token, now=now)
    return job


def test_a_job_without_buckets_is_dispatched_at_once(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "t1", ["j1"])
    job = go(dispatcher.pop())
    assert (job.tenant_id, job.job_id) == ("t1", "j1")


def test_an_empty_dispatcher_says_there_is_no_work(dispatcher):
    decision = dispatcher.pop()
    assert isinstance(decision, Wait)
    assert decision.until is None


def test_jobs_of_one_tenant_start_in_enqueue_order(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "t1", [f"j{i}" for i in range(20)])
    started = [run_one(dispatcher).job_id for _ in range(20)]
    assert started == [f"j{i}" for i in range(20)]


def test_a_tenant_has_at_most_one_job_in_flight(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "t1", ["j1", "j2"])
    go(dispatcher.pop(now=T0))
    second = dispatcher.pop(now=T0)
    assert isinstance(second, Wait)
    assert second.until is None


def test_releasing_a_job_lets_its_tenant_start_the_next(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "t1", ["j1", "j2"])
    first = go(dispatcher.pop(now=T0))
    assert dispatcher.release("t1", first.token, now=T0)
    assert go(dispatcher.pop(now=T0)).job_id == "j2"


def test_a_tenant_with_one_job_is_not_stuck_behind_one_with_ten_thousand(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "big", [f"b{i}" for i in range(10_000)])
    for _ in range(5):
        run_one(dispatcher)
    add_jobs(redis_client, dispatcher, "small", ["s1"])
    assert run_one(dispatcher).tenant_id == "small"


def test_backlogged_tenants_take_turns(redis_client, dispatcher):
    tenants = [f"t{i:02d}" for i in range(30)]
    for tenant in tenants:
        add_jobs(redis_client, dispatcher, tenant, [f"{tenant}-{n}" for n in range(10)])
    served = [run_one(dispatcher).tenant_id for _ in range(30 * 5)]
    counts = {tenant: served.count(tenant) for tenant in tenants}
    assert set(counts.values()) == {5}


def test_a_tenant_that_became_idle_rejoins_at_the_front(redis_client, dispatcher):
    for tenant in ("a", "b", "c"):
        add_jobs(redis_client, dispatcher, tenant, [f"{tenant}{n}" for n in range(50)])
    for _ in range(30):
        run_one(dispatcher)
    add_jobs(redis_client, dispatcher, "late", ["late1"])
    assert run_one(dispatcher).tenant_id == "late"


def test_a_tenant_at_its_endpoint_limit_does_not_hold_back_others(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"], [endpoint("a", limit=1, period=60.0)])
    add_jobs(redis_client, dispatcher, "b", ["b1", "b2"], [endpoint("b")])
    assert [run_one(dispatcher, T0).job_id for _ in range(2)] == ["a1", "b1"]
    # Both are now one turn on and "a" sorts first, but its endpoint is spent for a minute.
    assert go(dispatcher.pop(now=T0 + 1)).job_id == "b2"


def test_a_penalized_tenant_does_not_hold_back_others(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1"], [endpoint("a")])
    add_jobs(redis_client, dispatcher, "b", ["b1"], [endpoint("b")])
    dispatcher.penalize(endpoint("a").key, 5.0, now=T0)
    assert go(dispatcher.pop(now=T0)).job_id == "b1"


def test_a_blocked_tenant_waits_in_the_delayed_set_until_its_bucket_frees(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"], [endpoint("a", limit=1, period=10.0)])
    run_one(dispatcher, T0)
    decision = dispatcher.pop(now=T0 + 1)
    assert isinstance(decision, Wait)
    assert decision.until == pytest.approx(T0 + 10.0, abs=1e-3)
    assert redis_client.zscore(dispatcher.key("delayed:interactive"), "a") == pytest.approx(
        T0 + 10, abs=1e-3
    )
    assert go(dispatcher.pop(now=T0 + 10.01)).job_id == "a2"


def test_every_bucket_of_a_job_must_have_room_or_none_is_consumed(redis_client, dispatcher):
    full = Bucket("endpoint", "endpoint:k:a:x", 1, 10.0)
    roomy = Bucket("user", "user:k:a", 10, 1.0)
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"], [roomy, full])
    run_one(dispatcher, T0)
    assert isinstance(dispatcher.pop(now=T0 + 0.5), Wait)
    assert redis_client.zcard(dispatcher.key("b:user:k:a")) == 1


def test_a_full_key_bucket_makes_everyone_wait_without_losing_their_turn(redis_client, dispatcher):
    key = Bucket("key", "key:k", 2, 1.0)
    for tenant in ("a", "b", "c"):
        add_jobs(redis_client, dispatcher, tenant, [f"{tenant}1", f"{tenant}2"], [key])
    first = [run_one(dispatcher, T0).tenant_id for _ in range(2)]
    decision = dispatcher.pop(now=T0 + 0.1)
    assert isinstance(decision, Wait)
    assert decision.until == pytest.approx(T0 + 1.0, abs=1e-3)
    assert redis_client.zcard(dispatcher.key("delayed:interactive")) == 0
    assert run_one(dispatcher, T0 + 1.01).tenant_id not in first


def test_a_penalty_closes_a_bucket_until_retry_after(redis_client, dispatcher):
    bucket = endpoint("a")
    add_jobs(redis_client, dispatcher, "a", ["a1"], [bucket])
    until = dispatcher.penalize(bucket.key, 30.0, now=T0)
    decision = dispatcher.pop(now=T0 + 1)
    assert isinstance(decision, Wait)
    assert decision.until == pytest.approx(until, abs=1e-3) == pytest.approx(T0 + 30, abs=1e-3)
    assert go(dispatcher.pop(now=T0 + 30.01)).job_id == "a1"


def test_a_shorter_penalty_does_not_shorten_a_longer_one(dispatcher):
    first = dispatcher.penalize("endpoint:k:a:x", 30.0, now=T0)
    assert dispatcher.penalize("endpoint:k:a:x", 1.0, now=T0) == first


def test_a_paused_tenant_keeps_its_jobs_until_resumed(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"])
    dispatcher.pause("a")
    assert isinstance(dispatcher.pop(), Wait)
    add_jobs(redis_client, dispatcher, "a", ["a3"])
    assert isinstance(dispatcher.pop(), Wait)
    dispatcher.resume("a")
    assert [run_one(dispatcher).job_id for _ in range(3)] == ["a1", "a2", "a3"]


def test_pausing_one_tenant_does_not_stop_another(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1"])
    add_jobs(redis_client, dispatcher, "b", ["b1"])
    dispatcher.pause("a")
    assert go(dispatcher.pop()).tenant_id == "b"


def test_a_tenant_that_appears_later_is_dispatched(redis_client, dispatcher):
    assert isinstance(dispatcher.pop(), Wait)
    add_jobs(redis_client, dispatcher, "newcomer", ["n1"])
    assert go(dispatcher.pop()).tenant_id == "newcomer"


def test_a_tenant_whose_queue_ran_empty_leaves_the_ready_set(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1"])
    run_one(dispatcher)
    assert redis_client.zcard(dispatcher.key("ready:interactive")) == 0


def test_a_retried_in_flight_job_goes_back_to_the_head(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"])
    first = go(dispatcher.pop(now=T0))
    dispatcher.push("a", "a1", now=T0)  # what RQ does on a retry: append it again
    assert go(dispatcher.pop(now=T0)).job_id == "a1"
    assert not dispatcher.release("a", first.token)


def test_a_stale_release_does_not_end_the_next_dispatch_of_the_same_job(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"])
    first = go(dispatcher.pop(now=T0))
    dispatcher.push("a", "a1", at_front=True, now=T0)
    again = go(dispatcher.pop(now=T0))
    assert not dispatcher.release("a", first.token)
    assert {job: f.token for job, f in dispatcher.flights().items()} == {"a1": again.token}


def test_a_job_deleted_while_queued_is_skipped(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["gone", "a2"])
    redis_client.delete("rq:job:gone")
    decisions = [dispatcher.pop(), dispatcher.pop()]
    assert [d.job_id for d in decisions if isinstance(d, Dispatched)] == ["a2"]


def test_one_pop_looks_at_a_bounded_number_of_blocked_tenants(redis_client):
    dispatcher = Dispatcher(redis_client, candidates=2, jitter_allowance=0.0, shared_headroom=0)
    for tenant in ("a", "b", "c", "d", "e"):
        bucket = endpoint(tenant, limit=1, period=60.0)
        add_jobs(redis_client, dispatcher, tenant, [f"{tenant}1", f"{tenant}2"], [bucket])
    for _ in range(5):
        run_one(dispatcher, T0)
    decision = dispatcher.pop(now=T0 + 1)
    assert isinstance(decision, Wait)
    assert redis_client.zcard(dispatcher.key("delayed:interactive")) == 2


def test_a_tenant_id_with_spaces_is_refused_with_a_clear_error(dispatcher):
    with pytest.raises(TenantIdError, match="without spaces"):
        dispatcher.push("a b", "j1")


def test_a_bucket_with_a_zero_limit_is_refused_with_a_clear_error():
    with pytest.raises(BucketSpecError, match="limit"):
        encode_bucket(Bucket("endpoint", "endpoint:k:a:x", 0, 1.0))


def test_a_deferred_job_keeps_its_tenant_waiting_until_its_time(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"])
    first = go(dispatcher.pop(now=T0))
    dispatcher.defer("a1", 5.0, now=T0)
    dispatcher.push("a", "a1", now=T0)  # RQ's immediate retry
    assert first.token not in [f.token for f in dispatcher.flights().values()]
    decision = dispatcher.pop(now=T0 + 1)
    assert isinstance(decision, Wait)
    assert decision.until == pytest.approx(T0 + 5.0, abs=1e-3)
    assert go(dispatcher.pop(now=T0 + 5.01)).job_id == "a1"


def test_a_deferred_job_does_not_hold_back_other_tenants(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1"])
    add_jobs(redis_client, dispatcher, "b", ["b1"])
    dispatcher.defer("a1", 5.0, now=T0)
    assert go(dispatcher.pop(now=T0)).job_id == "b1"


def test_a_forgotten_tenant_leaves_no_scheduler_state_behind(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"])
    run_one(dispatcher)
    dispatcher.pause("a")
    redis_client.delete("rq:queue:billhive:t:a")
    dispatcher.forget("a")
    for name in ("ready", "delayed", "leases"):
        assert redis_client.zscore(dispatcher.key(name), "a") is None
    for name in ("held", "finish", "running"):
        assert not redis_client.hexists(dispatcher.key(name), "a")
    assert not dispatcher.is_paused("a")


def test_a_tenant_becoming_ready_wakes_a_waiting_worker(redis_client, dispatcher):
    add_jobs(redis_client, dispatcher, "a", ["a1"])
    assert redis_client.llen(dispatcher.wake_key) == 1


def test_waiting_hands_over_an_item_of_a_plain_queue(redis_client, dispatcher):
    redis_client.rpush("rq:queue:billhive:system", "job-1")
    assert dispatcher.wait_for_work(1.0, ["rq:queue:billhive:system"]) == (
        "rq:queue:billhive:system",
        "job-1",
    )


def test_headroom_keeps_calls_free_in_the_shared_key_bucket_only(redis_client):
    headroom = Dispatcher(redis_client, jitter_allowance=0.0, shared_headroom=1)
    key = Bucket("key", "key:k", 3, 1.0)
    for tenant in ("a", "b", "c"):
        add_jobs(redis_client, headroom, tenant, [f"{tenant}1"], [key])
    started = [run_one(headroom, T0).tenant_id for _ in range(2)]
    assert len(set(started)) == 2
    assert isinstance(headroom.pop(now=T0 + 0.1), Wait)  # the third of 3 is kept free
