"""Support for the dispatcher tests (no tests here): cheap jobs, a sliding-window check."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from redis import Redis

from billhive.billbee.limits import Bucket
from billhive.workers.scheduling.buckets import encode_buckets
from billhive.workers.scheduling.dispatcher import RQ_JOB_KEY_PREFIX, Dispatcher
from billhive.workers.scheduling.scripts import BUCKETS_FIELD


def add_jobs(
    redis: Redis,
    dispatcher: Dispatcher,
    tenant: str,
    job_ids: Iterable[str],
    buckets: Sequence[Bucket] = (),
    *,
    now: float | None = None,
) -> list[str]:
    """Push bare jobs (an RQ job hash holding only the buckets), fast enough for 10,000s."""
    ids = list(job_ids)
    spec = encode_buckets(buckets)
    with redis.pipeline(transaction=False) as pipe:
        for job_id in ids:
            pipe.hset(RQ_JOB_KEY_PREFIX + job_id, BUCKETS_FIELD, spec)
            dispatcher.push(tenant, job_id, pipeline=pipe, now=now)
        pipe.execute()
    return ids


def window_violations(times: Sequence[float], limit: int, period: float) -> list[float]:
    """Start times of windows (t - period, t] holding more than ``limit`` of ``times``."""
    ordered = sorted(times)
    return [
        ordered[i] for i in range(len(ordered) - limit) if ordered[i + limit] - ordered[i] < period
    ]
