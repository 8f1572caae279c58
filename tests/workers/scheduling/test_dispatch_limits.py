"""Billbee's limits read as sliding windows: the dispatcher never admits more than N calls in
any window of the period, checked against a reference over the recorded dispatch times."""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from collections.abc import Callable

import pytest
from redis import Redis
from support.dispatch import add_jobs, window_violations

from billhive.billbee.limits import Bucket
from billhive.workers.scheduling.dispatcher import Dispatched, Dispatcher, Restamp, Wait

T0 = 1_800_000_000.0


def gcra_admits(times: list[float], limit: int, period: float) -> list[float]:
    """Textbook GCRA with burst ``limit``: emission interval period/limit, tolerance
    (limit - 1) intervals. Returns the admitted request times."""
    interval = period / limit
    tolerance = (limit - 1) * interval
    tat = 0.0
    admitted = []
    for t in times:
        start = max(tat, t)
        if start - t <= tolerance:
            tat = start + interval
            admitted.append(t)
    return admitted


def test_the_reference_check_flags_a_burst_larger_than_the_limit():
    assert window_violations([0.0, 0.1, 0.2], limit=2, period=1.0) == [0.0]


def test_the_reference_check_accepts_calls_exactly_one_period_apart():
    assert window_violations([0.0, 0.5, 1.0, 1.5], limit=2, period=1.0) == []


def test_gcra_with_a_burst_tolerance_exceeds_the_sliding_window():
    # A full burst at 0, then GCRA admits again after one emission interval: 6 calls
    # inside 0.2 s for a limit of 5 per second. That is why the dispatcher keeps a log.
    arrivals = [0.0] * 5 + [0.2 + i * 0.2 for i in range(10)]
    admitted = gcra_admits(arrivals, limit=5, period=1.0)
    assert window_violations(admitted, limit=5, period=1.0)


def test_the_dispatcher_admits_the_burst_pattern_that_breaks_gcra_without_a_violation(
    redis_client: Redis,
):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, shared_headroom=0)
    bucket = Bucket("key", "key:k", 5, 1.0)
    admitted = []
    for step in range(400):  # a pop every 10 ms for 4 s, each tenant with endless work
        now = T0 + step * 0.01
        tenant = f"t{step}"
        add_jobs(redis_client, dispatcher, tenant, [f"{tenant}-j"], [bucket], now=now)
        decision = dispatcher.pop(now=now)
        if isinstance(decision, Dispatched):
            admitted.append(decision.at)
            dispatcher.release(decision.tenant_id, decision.token, now=now)
    assert window_violations(admitted, limit=5, period=1.0) == []
    assert len(admitted) == 20  # full use: 5 per second for 4 seconds


def test_the_jitter_allowance_widens_every_window(redis_client: Redis):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.05, shared_headroom=0)
    bucket = Bucket("key", "key:k", 2, 1.0)
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2", "a3"], [bucket], now=T0)
    for _ in range(2):
        job = dispatcher.pop(now=T0)
        assert isinstance(job, Dispatched)
        dispatcher.release(job.tenant_id, job.token, now=T0)
    assert not isinstance(dispatcher.pop(now=T0 + 1.02), Dispatched)
    assert isinstance(dispatcher.pop(now=T0 + 1.06), Dispatched)


@pytest.mark.parametrize(("threads", "lead"), [(8, 0.0), (8, 0.05)])
def test_concurrent_pops_never_exceed_any_nested_limit(
    redis_client: Redis, threads: int, lead: float
):
    dispatcher = Dispatcher(redis_client, lead=lead)
    period = 0.25
    key = Bucket("key", "key:k", 10, period)
    for n in range(12):
        tenant = f"t{n}"
        user = Bucket("user", f"user:k:{tenant}", 4, period)
        for op in ("orders.list", "products.update_stock"):
            ep = Bucket("endpoint", f"endpoint:k:{tenant}:{op}", 2, period)
            add_jobs(
                redis_client,
                dispatcher,
                tenant,
                [f"{tenant}-{op}-{i}" for i in range(40)],
                [key, user, ep],
            )
    dispatched: list[Dispatched] = []
    lock = threading.Lock()
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            decision = dispatcher.pop()
            if isinstance(decision, Dispatched):
                with lock:
                    dispatched.append(decision)
                dispatcher.release(decision.tenant_id, decision.token)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    stop.wait(1.5)
    stop.set()
    for thread in pool:
        thread.join()

    by_bucket: dict[tuple[str, int], list[float]] = defaultdict(list)
    for d in dispatched:
        tenant, op, _ = d.job_id.split("-")
        by_bucket[("key", 10)].append(d.at)
        by_bucket[(f"user:{tenant}", 4)].append(d.at)
        by_bucket[(f"endpoint:{tenant}:{op}", 2)].append(d.at)
    assert len(dispatched) > 10
    for (name, limit), times in by_bucket.items():
        assert window_violations(times, limit, period) == [], name


def test_restamping_moves_a_jobs_log_entries_to_the_send_time(redis_client: Redis) -> None:
    from billhive.billbee.limits import Bucket

    dispatcher = Dispatcher(redis_client)
    bucket = Bucket("endpoint", "endpoint:k:t1:orders.list", 2, 1.0)
    dispatcher.set_buckets("job-a", [bucket])
    dispatcher.push("t1", "job-a", now=100.0)
    popped = dispatcher.pop(now=100.0)
    assert popped.job_id == "job-a"  # type: ignore[union-attr]
    assert dispatcher.restamp("job-a", now=100.25).moved == 1
    log = redis_client.zrange(dispatcher.key("b:" + bucket.key), 0, -1, withscores=True)
    assert [score for _, score in log] == [100.25]
    assert dispatcher.restamp("job-a", now=100.3).moved == 1
    assert dispatcher.restamp("job-a", now=100.1).moved == 0  # never moves an entry earlier


def _endpoint_used_at_t0(redis_client: Redis, dispatcher: Dispatcher) -> str:
    """One call a second on a tenant's endpoint: a1 used it at T0, a2 waits behind it."""
    bucket = Bucket("endpoint", "endpoint:k:a:orders.get", 1, 1.0)
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"], [bucket], now=T0)
    first = dispatcher.pop(now=T0)
    assert isinstance(first, Dispatched) and first.at == T0
    dispatcher.release(first.tenant_id, first.token, now=T0)
    return "a2"


def _key_used_at_t0(redis_client: Redis, dispatcher: Dispatcher) -> str:
    """A key-wide bucket of one call a second, used by tenant a at T0; b waits for it."""
    key = Bucket("key", "key:k", 1, 1.0)
    add_jobs(redis_client, dispatcher, "a", ["a1"], [key], now=T0)
    add_jobs(redis_client, dispatcher, "b", ["b1"], [key], now=T0)
    assert isinstance(dispatcher.pop(now=T0), Dispatched)
    return "b1"


#: Both kinds of bucket are taken ahead alike: a tenant's own and the key-wide one.
EITHER_BUCKET = pytest.mark.parametrize(
    "slot_used_at_t0",
    [_endpoint_used_at_t0, _key_used_at_t0],
    ids=["tenant's own bucket", "key-wide bucket"],
)


@EITHER_BUCKET
def test_a_job_whose_slot_frees_within_the_lead_is_dispatched_for_that_time(
    redis_client: Redis, slot_used_at_t0: Callable[[Redis, Dispatcher], str]
):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, lead=0.05)
    waiting_job = slot_used_at_t0(redis_client, dispatcher)
    early = dispatcher.pop(now=T0 + 0.96)
    assert isinstance(early, Dispatched) and early.job_id == waiting_job
    assert early.at == pytest.approx(T0 + 1.0, abs=1e-5)


def test_without_a_lead_the_same_job_waits_for_its_slot(redis_client: Redis):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, lead=0.0)
    _endpoint_used_at_t0(redis_client, dispatcher)
    waiting = dispatcher.pop(now=T0 + 0.96)
    assert isinstance(waiting, Wait)
    assert waiting.until == pytest.approx(T0 + 1.0, abs=1e-5)


@EITHER_BUCKET
def test_a_pop_held_back_by_a_slot_comes_back_one_lead_early(
    redis_client: Redis, slot_used_at_t0: Callable[[Redis, Dispatcher], str]
):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, lead=0.05)
    slot_used_at_t0(redis_client, dispatcher)
    waiting = dispatcher.pop(now=T0 + 0.5)
    assert isinstance(waiting, Wait)
    assert waiting.until == pytest.approx(T0 + 0.95, abs=1e-5)


def test_a_reserved_call_is_told_to_wait_until_its_slot_and_then_restamped(
    redis_client: Redis,
):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, lead=0.05)
    _endpoint_used_at_t0(redis_client, dispatcher)
    assert isinstance(dispatcher.pop(now=T0 + 0.96), Dispatched)
    too_early = dispatcher.restamp("a2", now=T0 + 0.97)
    assert (too_early.moved, too_early.wait) == (0, pytest.approx(0.03, abs=1e-5))
    assert dispatcher.restamp("a2", now=T0 + 1.01).moved == 1


def test_restamp_when_due_sleeps_out_a_reservation_on_redis_time(redis_client: Redis):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0, lead=1.0)
    bucket = Bucket("endpoint", "endpoint:k:a:orders.get", 1, 0.3)
    add_jobs(redis_client, dispatcher, "a", ["a1", "a2"], [bucket])
    first = dispatcher.pop()
    assert isinstance(first, Dispatched)
    dispatcher.release(first.tenant_id, first.token)
    second = dispatcher.pop()
    assert isinstance(second, Dispatched)
    assert second.at == pytest.approx(first.at + 0.3, abs=0.01)
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        time.sleep(seconds)

    assert dispatcher.restamp_when_due("a2", sleep=sleep) == 1
    assert 0.2 < sum(slept) <= 0.31
    log = redis_client.zrange(dispatcher.key("b:" + bucket.key), 0, -1, withscores=True)
    assert log[-1][1] >= second.at


def _key_bucket_used_by_a_slow_starter(redis_client: Redis, dispatcher: Dispatcher) -> Bucket:
    """Key bucket of 1 call/s: 'slow' is dispatched at T0 but reaches its send only at
    T0 + 1.5 (its entry has left the window); 'quick' was dispatched at T0 + 1.2."""
    key = Bucket("key", "key:k", 1, 1.0)
    add_jobs(redis_client, dispatcher, "a", ["slow"], [key], now=T0)
    add_jobs(redis_client, dispatcher, "b", ["quick"], [key], now=T0)
    assert isinstance(dispatcher.pop(now=T0), Dispatched)
    quick = dispatcher.pop(now=T0 + 1.2)
    assert isinstance(quick, Dispatched) and quick.job_id == "quick"
    return key


def test_a_job_whose_slot_expired_before_its_send_waits_for_a_new_one(redis_client: Redis):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0)
    _key_bucket_used_by_a_slow_starter(redis_client, dispatcher)
    late = dispatcher.restamp("slow", now=T0 + 1.5)
    assert (late.moved, late.wait) == (0, pytest.approx(0.7, abs=1e-5))


def test_the_new_slot_is_reserved_so_later_jobs_queue_behind_it(redis_client: Redis):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0)
    key = _key_bucket_used_by_a_slow_starter(redis_client, dispatcher)
    dispatcher.restamp("slow", now=T0 + 1.5)
    add_jobs(redis_client, dispatcher, "other", ["other"], [key], now=T0 + 1.5)
    waiting = dispatcher.pop(now=T0 + 2.1)
    assert isinstance(waiting, Wait)
    assert waiting.until == pytest.approx(T0 + 3.2, abs=1e-5)
    assert dispatcher.restamp("slow", now=T0 + 2.25).moved == 1
    log = redis_client.zrange(dispatcher.key("b:" + key.key), 0, -1, withscores=True)
    assert [score for _, score in log] == [T0 + 1.2, T0 + 2.25]


def test_a_job_whose_slot_expired_is_sent_at_once_when_its_bucket_has_room(
    redis_client: Redis,
):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0)
    key = Bucket("key", "key:k", 2, 1.0)
    add_jobs(redis_client, dispatcher, "slow", ["slow"], [key], now=T0)
    assert isinstance(dispatcher.pop(now=T0), Dispatched)
    assert dispatcher.restamp("slow", now=T0 + 1.5) == Restamp(moved=1, wait=0.0)
    log = redis_client.zrange(dispatcher.key("b:" + key.key), 0, -1, withscores=True)
    assert [score for _, score in log] == [T0 + 1.5]


def test_the_jitter_allowance_counts_when_an_expired_slot_is_replaced(redis_client: Redis):
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.1)
    _key_bucket_used_by_a_slow_starter(redis_client, dispatcher)
    assert dispatcher.restamp("slow", now=T0 + 1.5).wait == pytest.approx(0.8, abs=1e-5)


def test_slow_job_starts_never_break_a_window_however_late_they_send(redis_client: Redis):
    """Simulated load: jobs are popped as soon as the key's window lets them and send after
    a start-up of 0-2 s; the send times (restamped) never exceed the limit."""
    import random

    rng = random.Random(7)
    dispatcher = Dispatcher(redis_client, jitter_allowance=0.0)
    key = Bucket("key", "key:k", 5, 1.0)
    for tenant in range(40):
        add_jobs(redis_client, dispatcher, f"t{tenant}", [f"j{tenant}"], [key], now=T0)
    pending: list[tuple[float, str]] = []  # (when the job tries to send, job id)
    sent: list[float] = []
    replaced = 0  # restamps that had to wait for a new slot
    now = T0
    while now < T0 + 30 and len(sent) < 40:
        popped = dispatcher.pop(now=now)
        if isinstance(popped, Dispatched):
            pending.append((now + rng.choice([0.0, 0.01, 0.3, 1.2, 2.0]), popped.job_id))
        for item in sorted(p for p in pending if p[0] <= now):
            pending.remove(item)
            stamped = dispatcher.restamp(item[1], now=now)
            if stamped.wait > 0:
                replaced += 1
                pending.append((now + stamped.wait, item[1]))
            else:
                sent.append(now)
        now += 0.005
    assert len(sent) == 40
    assert window_violations(sent, 5, 1.0) == []
    assert replaced > 0
