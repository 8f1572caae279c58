"""``/metrics`` for Prometheus: figures read from the database and Redis at scrape time.

A custom collector (not in-process counters) because the numbers live where the workers
write them: call rows, usage counters and queue lengths. Every web process answers the same.
Series:

- ``billhive_calls_finished_total{status,operation}``: calls that reached a final status
  (running totals, see :mod:`.metrics_tally`); ``billhive_calls_open{status}``: queued and
  running calls now;
- ``billhive_billbee_throttled_this_month``, ``billhive_billbee_throttled_last_minute``:
  429 answers from Billbee; ``billhive_billbee_calls_this_month``: HTTP calls made;
- ``billhive_queue_depth{tenant_id}``: waiting calls of each tenant with a non-empty queue;
- ``billhive_jobs_queued``: waiting calls in all tenant queues; ``billhive_workers_alive``;
- ``billhive_call_wait_seconds``: histogram of the time from enqueue to start (running
  totals, a minute behind);
- ``billhive_key_budget_in_use``: share (0..1) of the key's 50 calls/s used last second;
- ``billhive_tenants{status}``;
- ``billhive_calls_recovered_total``: calls the reconciler pushed again after Redis lost
  their jobs; ``billhive_calls_recovered_last_timestamp_seconds`` (0: never);
  ``billhive_reconciler_last_run_timestamp_seconds``: when it last ran (alert if old).

Access: the figures name tenants and their load, so ``/metrics`` is served only with
``Authorization: Bearer <BILLHIVE_METRICS_TOKEN>``; without the setting it answers 404.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator, Sequence
from datetime import datetime

from flask import Blueprint, Response, abort, request
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import CollectorRegistry
from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.platform.admin import figures
from billhive.platform.admin import metrics_tally as tally
from billhive.platform.admin.figures import tenants_per_status
from billhive.platform.extensions import db_session, redis, settings
from billhive.workers import control, stats
from billhive.workers.models import Call, CallStatus, UsageDay

bp = Blueprint("metrics", __name__)


def nonempty_queue_depths(redis: Redis) -> dict[str, int]:
    """Waiting calls per tenant id (every lane), for tenants with at least one."""
    depths: dict[str, int] = {}
    for (tenant, _), count in control.waiting_by_queue(redis).items():
        depths[tenant] = depths.get(tenant, 0) + count
    return depths


class DashboardCollector:
    """Reads the figures when Prometheus scrapes (one per request, not registered globally)."""

    def __init__(self, session: Session, redis: Redis) -> None:
        self.session = session
        self.redis = redis

    def _calls(self) -> Sequence[Metric]:
        finished = CounterMetricFamily(
            "billhive_calls_finished",
            "Calls that reached a final status, by status and operation.",
            labels=["status", "operation"],
        )
        for (status, operation), count in sorted(tally.finished_counts(self.redis).items()):
            finished.add_metric([status, operation], count)
        open_calls = GaugeMetricFamily(
            "billhive_calls_open", "Calls queued or running now.", labels=["status"]
        )
        rows = self.session.execute(
            select(Call.status, func.count())
            .where(Call.status.in_([CallStatus.QUEUED, CallStatus.RUNNING]))
            .group_by(Call.status)
        )
        counts = {CallStatus.QUEUED.value: 0, CallStatus.RUNNING.value: 0}
        counts.update({status.value: count for status, count in rows})
        for status, count in counts.items():
            open_calls.add_metric([status], count)
        return [finished, open_calls]

    def _usage(self) -> Sequence[Metric]:
        # This month only: the sum stays bounded (tenants x 31 rows, by the day index) however
        # long the platform runs, and it is what Billbee bills.
        first = utcnow().date().replace(day=1)
        calls, throttled = self.session.execute(
            select(
                func.coalesce(func.sum(UsageDay.calls), 0),
                func.coalesce(func.sum(UsageDay.throttled), 0),
            ).where(UsageDay.day >= first)
        ).one()
        minutes = stats.outcomes_per_minute(self.redis, 2)
        last_minute = minutes[0][1] if minutes else {}
        return [
            GaugeMetricFamily(
                "billhive_billbee_calls_this_month",
                "HTTP calls made to Billbee this calendar month (UTC).",
                value=int(calls),
            ),
            GaugeMetricFamily(
                "billhive_billbee_throttled_this_month",
                "429 answers from Billbee this calendar month (UTC).",
                value=int(throttled),
            ),
            GaugeMetricFamily(
                "billhive_billbee_throttled_last_minute",
                "429 answers from Billbee during the last complete minute.",
                value=int(last_minute.get("throttled", 0)),
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
            self._lanes(),
            GaugeMetricFamily(
                "billhive_workers_alive",
                "Workers registered with RQ.",
                value=control.workers_alive(self.redis),
            ),
            *self._load(),
            GaugeMetricFamily(
                "billhive_key_budget_in_use",
                "Share of the API key's 50 calls/s used during the last second.",
                value=control.key_budget_in_use(self.redis),
            ),
        ]

    def _recovery(self) -> Sequence[Metric]:
        state = figures.reconciler_state(self.session)

        def stamp(at: datetime | None) -> float:
            return at.timestamp() if at is not None else 0.0

        return [
            CounterMetricFamily(
                "billhive_calls_recovered",
                "Calls the reconciler pushed again after Redis lost their jobs.",
                value=state.recovered_total if state else 0,
            ),
            GaugeMetricFamily(
                "billhive_calls_recovered_last_timestamp_seconds",
                "When the reconciler last recovered calls (0: never).",
                value=stamp(state.last_recovered_at if state else None),
            ),
            GaugeMetricFamily(
                "billhive_reconciler_last_run_timestamp_seconds",
                "When the reconciler last ran (0: never).",
                value=stamp(state.last_run_at if state else None),
            ),
        ]

    def _load(self) -> Sequence[Metric]:
        load = stats.worker_load(self.redis)
        figures = [
            GaugeMetricFamily(
                "billhive_calls_in_flight", "Calls the workers carry now.", value=load.in_flight
            ),
            GaugeMetricFamily(
                "billhive_calls_in_flight_target",
                "Calls in flight the workers aim for (fills the key at the measured latency).",
                value=load.target,
            ),
        ]
        if load.latency_ms is not None:
            figures.append(
                GaugeMetricFamily(
                    "billhive_billbee_latency_seconds",
                    "Seconds a Billbee call takes, as the workers measure it (moving average).",
                    value=load.latency_ms / 1000,
                )
            )
        return figures

    def _lanes(self) -> Metric:
        family = GaugeMetricFamily(
            "billhive_jobs_queued_by_lane", "Calls waiting, per lane.", labels=["lane"]
        )
        for lane, count in control.queued_per_lane(self.redis).items():
            family.add_metric([lane], count)
        return family

    def _tenants(self) -> Metric:
        family = GaugeMetricFamily("billhive_tenants", "Tenants by status.", labels=["status"])
        for status, count in tenants_per_status(self.session).items():
            family.add_metric([status], count)
        return family

    def collect(self) -> Iterator[Metric]:
        """Every series, read now (the running totals advanced first)."""
        tally.advance(self.session, self.redis)
        yield from self._calls()
        yield from self._usage()
        yield from self._queues()
        buckets, seconds = tally.wait_histogram(self.redis)
        yield HistogramMetricFamily(
            "billhive_call_wait_seconds",
            "Time from enqueue to start of a call.",
            buckets=buckets,
            sum_value=seconds,
        )
        yield self._tenants()
        yield from self._recovery()


def _check_scraper() -> None:
    """404 while no metrics token is configured; 401 for a request without that token."""
    configured = settings().metrics_token
    expected = configured.get_secret_value() if configured is not None else ""
    if not expected:
        abort(404)
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(
        given.strip().encode(), expected.encode()
    ):
        response = Response("Send the metrics token as a bearer token.\n", status=401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="billhive metrics"'
        abort(response)


@bp.route("/metrics")
def metrics() -> Response:
    """The Prometheus text exposition of :class:`DashboardCollector` (bearer token only)."""
    _check_scraper()
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DashboardCollector(db_session(), redis()))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
