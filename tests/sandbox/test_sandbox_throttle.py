"""Throttling: the sliding-window log, and the shared limits table over HTTP."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from support.sandbox import MERCHANT, NO_INVOICES, ManualClock, Sandbox

from billhive.billbee.limits import Bucket, buckets_for
from billhive.sandbox.throttle import SlidingWindowThrottle, retry_after_header

TWO_PER_SECOND = [Bucket("endpoint", "endpoint:k:u:orders.list", 2, 1.0)]


def test_calls_up_to_the_limit_are_accepted() -> None:
    throttle = SlidingWindowThrottle(ManualClock(100.0))
    assert throttle.try_acquire(TWO_PER_SECOND) is None
    assert throttle.try_acquire(TWO_PER_SECOND) is None


def test_the_call_over_the_limit_is_refused_with_the_time_until_a_slot_frees() -> None:
    clock = ManualClock(100.0)
    throttle = SlidingWindowThrottle(clock)
    throttle.try_acquire(TWO_PER_SECOND)
    clock.now += 0.25
    throttle.try_acquire(TWO_PER_SECOND)
    clock.now += 0.25
    assert throttle.try_acquire(TWO_PER_SECOND) == 0.5


def test_a_burst_straddling_a_window_edge_is_caught() -> None:
    # A fixed window starting at 100.0 would reset at 101.0 and admit 4 calls in 0.2 s.
    clock = ManualClock(100.0)
    throttle = SlidingWindowThrottle(clock)
    clock.now = 100.9
    throttle.try_acquire(TWO_PER_SECOND)
    throttle.try_acquire(TWO_PER_SECOND)
    clock.now = 101.1
    assert throttle.try_acquire(TWO_PER_SECOND) is not None


def test_a_slot_frees_exactly_one_period_after_the_oldest_call() -> None:
    clock = ManualClock(100.0)
    throttle = SlidingWindowThrottle(clock)
    throttle.try_acquire(TWO_PER_SECOND)
    throttle.try_acquire(TWO_PER_SECOND)
    clock.now += 1.0
    assert throttle.try_acquire(TWO_PER_SECOND) is None


def test_a_refused_call_consumes_no_other_bucket() -> None:
    clock = ManualClock(100.0)
    throttle = SlidingWindowThrottle(clock)
    user = Bucket("user", "user:k:u", 3, 1.0)
    full = Bucket("order_get", "order_get:k:u:1", 1, 60.0)
    throttle.try_acquire([user, full])
    assert throttle.try_acquire([user, full]) is not None
    assert throttle.try_acquire([user]) is None
    assert throttle.try_acquire([user]) is None


def test_retry_after_rounds_up_to_whole_seconds() -> None:
    assert retry_after_header(0.2) == "1"
    assert retry_after_header(1.01) == "2"


def _burst(client: httpx.Client, calls: int) -> list[httpx.Response]:
    return [client.get("/orders", params={"page": 1}) for _ in range(calls)]


def test_a_third_call_to_one_endpoint_within_a_second_gets_429(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    statuses = [r.status_code for r in _burst(sandbox.client(), 3)]
    assert statuses == [200, 200, 429]


def test_a_429_carries_retry_after_in_whole_seconds(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    throttled = _burst(sandbox.client(), 3)[-1]
    assert throttled.headers["Retry-After"] == "1"


def test_the_retry_after_header_can_be_switched_off(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(send_retry_after=False, clock=ManualClock())
    throttled = _burst(sandbox.client(), 3)[-1]
    assert throttled.status_code == 429
    assert "Retry-After" not in throttled.headers


def test_other_endpoints_of_the_same_user_are_not_blocked_by_one_full_endpoint(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    client = sandbox.client()
    _burst(client, 3)
    assert client.get("/products").status_code == 200


def test_another_merchant_is_not_blocked_by_one_merchants_full_endpoint(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    _burst(sandbox.client(), 3)
    assert sandbox.client(NO_INVOICES).get("/orders").status_code == 200


def test_the_user_limit_of_ten_per_second_applies_across_endpoints(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    client = sandbox.client()
    paths = ["/orders", "/products", "/customers", "/events", "/shipment/shipments", "/webhooks"]
    statuses = [client.get(p).status_code for p in paths for _ in range(2)]
    assert statuses.count(429) == 2


def test_employees_share_their_accounts_user_budget(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    sandbox.client().get("/orders")
    sandbox.client().get("/orders")
    employee = sandbox.client(username=MERCHANT["employees"][0])
    assert employee.get("/orders").status_code == 429


def test_get_order_is_limited_to_six_calls_per_order_per_minute_from_the_shared_table() -> None:
    clock = ManualClock(100.0)
    throttle = SlidingWindowThrottle(clock)
    outcomes = []
    for _ in range(7):
        clock.now += 1.0  # past the per-second buckets, well inside the order's minute
        buckets = buckets_for("orders.get", {"id": "5"}, key_id="k", user_id="7")
        outcomes.append(throttle.try_acquire(buckets))
    assert outcomes[:6] == [None] * 6
    assert outcomes[6] == 54.0


def test_events_are_limited_per_page_from_the_shared_table() -> None:
    clock = ManualClock(100.0)
    throttle = SlidingWindowThrottle(clock)
    outcomes = []
    for _ in range(3):
        clock.now += 1.0
        outcomes.append(
            throttle.try_acquire(buckets_for("events.list", {"page": "1"}, key_id="k", user_id="7"))
        )
    other_page = buckets_for("events.list", {"page": "2"}, key_id="k", user_id="7")
    assert outcomes[2] is not None
    assert throttle.try_acquire(other_page) is None


def test_after_the_retry_after_seconds_the_call_is_accepted(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    clock = ManualClock()
    sandbox = sandbox_factory(clock=clock)
    client = sandbox.client()
    wait = int(_burst(client, 3)[-1].headers["Retry-After"])
    clock.advance(wait)
    assert client.get("/orders", params={"page": 1}).status_code == 200


def test_a_burst_at_a_window_edge_is_caught_over_http(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    clock = ManualClock(1000.9)
    sandbox = sandbox_factory(clock=clock)
    client = sandbox.client()
    _burst(client, 2)
    clock.advance(0.2)  # 1001.1: a fixed one-second window would have started afresh
    assert client.get("/orders", params={"page": 1}).status_code == 429


def test_the_key_limit_of_fifty_per_second_spans_every_merchant(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    shops = [
        {"id": n, "username": f"shop{n}@example.com", "password": f"Shop{n}#Pass2025"}
        for n in range(1, 7)
    ]
    sandbox = sandbox_factory(accounts=shops, clock=ManualClock())
    paths = ["/orders", "/products", "/customers", "/shipment/shipments", "/webhooks"]
    statuses = []
    for shop in shops:
        client = sandbox.client(shop)
        statuses += [client.get(path).status_code for path in paths for _ in range(2)]
    assert statuses[:50] == [200] * 50
    assert set(statuses[50:]) == {429}
