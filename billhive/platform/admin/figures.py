"""The overview's figures: tenants per status, failures, this month's calls and bill, and
the live ones read from Redis (key budget, queued jobs, workers, calls per minute)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from redis import Redis
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers import control, costs, stats
from billhive.workers.models import Call, CallStatus, ReconcilerState, UsageDay

#: Billbee's price for an integration (see billhive.workers.costs).
FREE_CALLS_PER_MONTH = costs.FREE_CALLS_PER_MONTH
PRICE_PER_CALL_EUR = costs.PRICE_PER_CALL_EUR


def tenants_per_status(session: Session) -> dict[str, int]:
    """How many tenants are in each status (every status listed, zeros included)."""
    counts = {status.value: 0 for status in TenantStatus}
    rows = session.execute(select(Tenant.status, func.count()).group_by(Tenant.status))
    for status, count in rows:
        counts[TenantStatus(status).value] = count
    return counts


def failed_calls_since(session: Session, since: datetime) -> int:
    """Calls that failed after ``since``."""
    statement = (
        select(func.count())
        .select_from(Call)
        .where(Call.finished_at >= since, Call.status == CallStatus.FAILED)
    )
    return session.scalar(statement) or 0


def calls_in_month(session: Session, today: date) -> int:
    """Billbee HTTP calls made from the first of ``today``'s month up to today."""
    first = today.replace(day=1)
    total = session.scalar(select(func.sum(UsageDay.calls)).where(UsageDay.day >= first))
    return int(total or 0)


def estimated_bill(calls: int) -> Decimal:
    """What Billbee would charge for ``calls`` in a month, in euros."""
    return costs.bill(calls)


@dataclass(frozen=True)
class LiveFigures:
    """The figures the overview refreshes every few seconds."""

    key_budget_percent: float
    jobs_queued: int
    workers_alive: int
    queued_interactive: int = 0
    queued_bulk: int = 0
    queued_background: int = 0
    calls_in_flight: int = 0
    in_flight_target: int = 0
    latency_ms: int | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        """The JSON the polling script reads."""
        return {
            "key_budget_percent": self.key_budget_percent,
            "jobs_queued": self.jobs_queued,
            "workers_alive": self.workers_alive,
            "queued_interactive": self.queued_interactive,
            "queued_bulk": self.queued_bulk,
            "queued_background": self.queued_background,
            "calls_in_flight": self.calls_in_flight,
            "in_flight_target": self.in_flight_target,
            "latency_ms": self.latency_ms,
        }


def live_figures(redis: Redis) -> LiveFigures:
    """Key budget in use, queued jobs and live workers, from Redis and RQ."""
    lanes = control.queued_per_lane(redis)
    load = stats.worker_load(redis)
    return LiveFigures(
        key_budget_percent=round(control.key_budget_in_use(redis) * 100, 1),
        jobs_queued=sum(lanes.values()),
        workers_alive=control.workers_alive(redis),
        queued_interactive=lanes["interactive"],
        queued_bulk=lanes["bulk"],
        queued_background=lanes["background"],
        calls_in_flight=load.in_flight,
        in_flight_target=load.target,
        latency_ms=load.latency_ms,
    )


def calls_per_minute(redis: Redis, minutes: int = 60) -> list[tuple[str, dict[str, int]]]:
    """(HH:MM, outcome counts) for each of the last ``minutes`` minutes, oldest first."""
    return [
        (datetime.fromtimestamp(start, UTC).strftime("%H:%M"), counts)
        for start, counts in stats.outcomes_per_minute(redis, minutes)
    ]


def reconciler_state(session: Session) -> ReconcilerState | None:
    """What the reconciler last did (None before its first run)."""
    return session.get(ReconcilerState, 1)


def last_day_start() -> datetime:
    """24 hours ago."""
    return utcnow() - timedelta(hours=24)
