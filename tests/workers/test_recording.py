"""A job's counters and announcements leave for Redis together, when the job's block ends."""

from __future__ import annotations

import pytest
from redis import Redis

from billhive.workers.events import CALLS_FINISHED_KEY, notify_call_finished
from billhive.workers.recording import job_events
from billhive.workers.stats import calls_in_last_second, record_billbee_call


def test_job_events_are_sent_when_the_block_ends(redis_client: Redis) -> None:
    with job_events(redis_client) as events:
        notify_call_finished(events, 7)
        assert redis_client.llen(CALLS_FINISHED_KEY) == 0
    assert redis_client.lrange(CALLS_FINISHED_KEY, 0, -1) == [b"7"]


def test_job_events_are_sent_when_the_block_raises(redis_client: Redis) -> None:
    with pytest.raises(RuntimeError), job_events(redis_client) as events:
        record_billbee_call(events, at=1_800_000_000.5)
        raise RuntimeError("the job deferred")
    assert calls_in_last_second(redis_client, now=1_800_000_001.2) == 1
