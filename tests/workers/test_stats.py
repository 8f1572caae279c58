"""Live counters: the key budget in use and the last hour's outcomes."""

from redis import Redis

from billhive.workers.stats import (
    key_budget_in_use,
    outcomes_per_minute,
    record_billbee_call,
    record_outcome,
)


def test_key_budget_counts_calls_of_the_last_complete_second(redis_client: Redis) -> None:
    for _ in range(25):
        record_billbee_call(redis_client, at=1000.5)
    record_billbee_call(redis_client, at=1001.2)  # the current, incomplete second
    assert key_budget_in_use(redis_client, now=1001.9) == 0.5


def test_outcomes_are_counted_per_minute_oldest_first(redis_client: Redis) -> None:
    record_outcome(redis_client, "succeeded", at=60 * 100 + 5)
    record_outcome(redis_client, "succeeded", at=60 * 100 + 50)
    record_outcome(redis_client, "throttled", at=60 * 101 + 1)
    rows = outcomes_per_minute(redis_client, minutes=3, now=60 * 101 + 30)
    assert [start for start, _ in rows] == [60 * 99, 60 * 100, 60 * 101]
    assert rows[1][1]["succeeded"] == 2
    assert rows[2][1]["throttled"] == 1 and rows[0][1]["failed"] == 0
