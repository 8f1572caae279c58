"""A job's counters leave for Redis together, when the job's block ends."""

from __future__ import annotations

import pytest
from redis import Redis

from billhive.workers.recording import job_events
from billhive.workers.stats import calls_in_last_second, record_billbee_call


def test_job_counters_are_sent_when_the_block_ends(redis_client: Redis) -> None:
    with job_events(redis_client) as events:
        record_billbee_call(events, at=1_800_000_000.5)
        assert calls_in_last_second(redis_client, now=1_800_000_001.2) == 0
    assert calls_in_last_second(redis_client, now=1_800_000_001.2) == 1


def test_job_counters_are_sent_when_the_block_raises(redis_client: Redis) -> None:
    with pytest.raises(RuntimeError), job_events(redis_client) as events:
        record_billbee_call(events, at=1_800_000_000.5)
        raise RuntimeError("the job deferred")
    assert calls_in_last_second(redis_client, now=1_800_000_001.2) == 1


def test_job_counters_redis_cannot_take_do_not_fail_the_job() -> None:
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    with job_events(down) as events:
        record_billbee_call(events, at=1_800_000_000.5)
    # Reaching this line is the behaviour: the block ended without an exception.
    assert events.command_stack == [] or len(events) >= 0
