"""``/metrics`` for Prometheus: figures read from the database and Redis at scrape time.

A custom collector (not in-process counters) because the numbers live where the workers
write them: call rows, usage counters and queue lengths. Every web process answers the same.
Series:

- ``billhive_calls{status,operation}``: call rows by status and operation (gauge);
- ``billhive_billbee_throttled_total``: 429 answers from Billbee (sum of the usage counters);
- ``billhive_billbee_calls_total``: HTTP calls made to Billbee;
- ``billhive_queue_depth{tenant_id}``: waiting calls of each tenant with a non-empty queue;
- ``billhive_jobs_queued``: waiting calls in all tenant queues; ``billhive_workers_alive``;
- ``billhive_call_wait_seconds``: histogram of the time from enqueue to start;
- ``billhive_key_budget_in_use``: share (0..1) of the key's 50 calls/s used last second;
- ``billhive_tenants{status}``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from flask import Blueprint, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry
from redis import Redis
from sqlalchemy import case, func, select
from sqlalchemy.orm import Session
from sqlalchemy.sql.elements import ColumnElement

from billhive.platform.admin.figures import tenants_per_status
from billhive.platform.extensions import db_session, redis
from billhive.workers import control
from billhive.workers.models import Call, UsageDay
from billhive.workers.scheduling.dispatcher import RQ_QUEUE_KEY_PREFIX, TENANT_QUEUE_PREFIX

#: Upper bounds (seconds) of the enqueue-to-start histogram's buckets.
WAIT_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 1800.0)

bp = Blueprint("metrics", __name__)


def _wait_seconds(session: Session) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "postgresql":
        return func.extract("epoch", Call.started_at - Call.enqueued_at)
    return (func.julianday(Call.started_at) - func.julianday(Call.enqueued_at)) * 86400.0


def wait_histogram(session: Session) -> tuple[list[tuple[str, float]], float]:
    """Cumulative bucket counts (``le`` label, count) and the sum, over started calls."""
    wait = _wait_seconds(session)
    columns = [func.sum(case((wait <= bound, 1), else_=0)) for bound in WAIT_BUCKETS]
    row = session.execute(
        select(func.count(), func.coalesce(func.sum(wait), 0.0), *columns).where(
            Call.started_at.is_not(None)
        )
    ).one()
    total, seconds, *counts = row
    buckets = [(str(b), float(c or 0)) for b, c in zip(WAIT_BUCKETS, counts, strict=True)]
    buckets.append(("+Inf", float(total or 0)))
    return buckets, float(seconds or 0.0)


def nonempty_queue_depths(redis: Redis) -> dict[str, int]:
    """Waiting calls per tenant id, for tenants with at least one (SCAN, one pipeline)."""
    prefix = RQ_QUEUE_KEY_PREFIX + TENANT_QUEUE_PREFIX
    found = redis.scan_iter(match=prefix + "*", count=1000)
    keys = [k.decode() if isinstance(k, bytes) else str(k) for k in found]
    if not keys:
        return {}
    pipe = redis.pipeline(transaction=False)
    for key in keys:
        pipe.llen(key)
    depths = zip(keys, pipe.execute(), strict=True)
    return {key.removeprefix(prefix): int(n) for key, n in depths if int(n) > 0}


class DashboardCollector:
    """Reads the figures when Prometheus scrapes (one per request, not registered globally)."""

    def __init__(self, session: Session, redis: Redis) -> None:
        self.session = session
        self.redis = redis

    def _calls(self) -> Metric:
        family = GaugeMetricFamily(
            "billhive_calls", "Call rows by status and operation.", labels=["status", "operation"]
        )
        rows = self.session.execute(
            select(Call.status, Call.operation, func.count()).group_by(Call.status, Call.operation)
        )
        for status, operation, count in rows:
            family.add_metric([str(status.value), operation], count)
        return family

    def _usage(self) -> Sequence[Metric]:
        calls, throttled = self.session.execute(
            select(
                func.coalesce(func.sum(UsageDay.calls), 0),
                func.coalesce(func.sum(UsageDay.throttled), 0),
            )
        ).one()
        return [
            CounterMetricFamily(
                "billhive_billbee_calls", "HTTP calls made to Billbee.", value=int(calls)
            ),
            CounterMetricFamily(
                "billhive_billbee_throttled", "429 answers from Billbee.", value=int(throttled)
            ),
        ]

    def _queues(self) -> Sequence[Metric]:
        depth = GaugeMetricFamily(
            "billhive_queue_depth", "Calls waiting in a tenant's queue.", labels=["tenant_id"]
        )
        for tenant_id, count in sorted(nonempty_queue_depths(self.redis).items()):
            depth.add_metric([tenant_id], count)
        return [
            depth,
            GaugeMetricFamily(
                "billhive_jobs_queued",
                "Calls waiting in all tenant queues.",
                value=control.total_queued(self.redis),
            ),
            GaugeMetricFamily(
                "billhive_workers_alive",
                "Workers registered with RQ.",
                value=control.workers_alive(self.redis),
            ),
            GaugeMetricFamily(
                "billhive_key_budget_in_use",
                "Share of the API key's 50 calls/s used during the last second.",
                value=control.key_budget_in_use(self.redis),
            ),
        ]

    def _tenants(self) -> Metric:
        family = GaugeMetricFamily("billhive_tenants", "Tenants by status.", labels=["status"])
        for status, count in tenants_per_status(self.session).items():
            family.add_metric([status], count)
        return family

    def collect(self) -> Iterator[Metric]:
        """Every series, read now."""
        yield self._calls()
        yield from self._usage()
        yield from self._queues()
        buckets, seconds = wait_histogram(self.session)
        yield HistogramMetricFamily(
            "billhive_call_wait_seconds",
            "Time from enqueue to start of a call.",
            buckets=buckets,
            sum_value=seconds,
        )
        yield self._tenants()


@bp.route("/metrics")
def metrics() -> Response:
    """The Prometheus text exposition of :class:`DashboardCollector`."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector(db_session(), redis()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
