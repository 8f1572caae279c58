"""What Billbee bills the API key, and each tenant's share of it.

Since 2025-11-01 Billbee bills each API key (one integration, all its merchants together)
per call: the first :data:`FREE_CALLS_PER_MONTH` calls of a month are free, every further
call costs :data:`PRICE_PER_CALL_EUR`. A tenant's share is its part of the key's calls
times the key's bill (a tenant whose calls stay within the free ones still has a share of
zero while the key stays under the free calls). Figures come from ``usage_days``, billhive's
count of the Billbee calls it made; the forecast to month end extends the month so far at
its average pace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.workers.models import UsageDay

#: Billbee's price for an integration (API key): calls per month that are free, then per call.
FREE_CALLS_PER_MONTH = 100_000
PRICE_PER_CALL_EUR = Decimal("0.0005")
#: Shares are shown to the cent's hundredth (the price is a twentieth of a cent).
_EUR = Decimal("0.0001")
#: The forecast reads the month's pace from at least this much of it (one hour), so a
#: handful of calls in the month's first minutes are not extrapolated into millions.
MIN_ELAPSED = timedelta(hours=1)


def bill(calls: int) -> Decimal:
    """What Billbee charges the key for ``calls`` in one month, in euros."""
    return max(0, calls - FREE_CALLS_PER_MONTH) * PRICE_PER_CALL_EUR


def share(tenant_calls: int, key_calls: int, key_bill: Decimal) -> Decimal:
    """A tenant's part of the key's bill: its share of the key's calls."""
    if key_calls <= 0 or tenant_calls <= 0:
        return Decimal(0)
    return (key_bill * tenant_calls / key_calls).quantize(_EUR, rounding=ROUND_HALF_UP)


def month_of(day: date) -> date:
    """The first day of ``day``'s month."""
    return day.replace(day=1)


def next_month(first: date) -> date:
    """The first day of the month after the one starting on ``first``."""
    return (first.replace(day=28) + timedelta(days=4)).replace(day=1)


def previous_month(first: date) -> date:
    """The first day of the month before the one starting on ``first``."""
    return (first - timedelta(days=1)).replace(day=1)


def elapsed_share(first: date, now: datetime) -> float:
    """How much of the month starting on ``first`` has passed at ``now`` (0..1]."""
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    end_day = next_month(first)
    end = datetime(end_day.year, end_day.month, end_day.day, tzinfo=UTC)
    passed = max(now - start, MIN_ELAPSED)
    return min(1.0, passed / (end - start))


def forecast(calls_so_far: int, first: date, now: datetime) -> int:
    """The month's calls at its pace so far."""
    return round(calls_so_far / elapsed_share(first, now))


def key_calls(session: Session, first: date) -> int:
    """The key's Billbee calls in the month starting on ``first`` (every tenant's)."""
    total = session.scalar(
        select(func.coalesce(func.sum(UsageDay.calls), 0)).where(
            UsageDay.day >= first, UsageDay.day < next_month(first)
        )
    )
    return int(total or 0)


def tenant_calls(session: Session, tenant_id: int, first: date) -> int:
    """One tenant's Billbee calls in the month starting on ``first``."""
    total = session.scalar(
        select(func.coalesce(func.sum(UsageDay.calls), 0)).where(
            UsageDay.tenant_id == tenant_id,
            UsageDay.day >= first,
            UsageDay.day < next_month(first),
        )
    )
    return int(total or 0)


def top_tenants(session: Session, first: date, limit: int) -> list[tuple[int, int]]:
    """(tenant id, calls) of the month's biggest callers, most calls first."""
    total = func.sum(UsageDay.calls)
    rows = session.execute(
        select(UsageDay.tenant_id, total)
        .where(UsageDay.day >= first, UsageDay.day < next_month(first))
        .group_by(UsageDay.tenant_id)
        .order_by(total.desc(), UsageDay.tenant_id)
        .limit(limit)
    )
    return [(int(tenant_id), int(calls)) for tenant_id, calls in rows]


@dataclass(frozen=True)
class KeyMonth:
    """The key's calls and bill in one month (``complete``: the month is over;
    ``forecast``: figures extended to the month's end)."""

    month: date
    calls: int
    bill: Decimal
    complete: bool
    forecast: bool = False


@dataclass(frozen=True)
class TenantMonth:
    """A tenant's calls and share of the key's bill in one month."""

    month: date
    calls: int
    key: KeyMonth

    @property
    def share(self) -> Decimal:
        """The tenant's part of the key's bill, in euros."""
        return share(self.calls, self.key.calls, self.key.bill)


@dataclass(frozen=True)
class KeyCosts:
    """The key's figures: this month so far, last month, and this month's forecast."""

    this_month: KeyMonth
    last_month: KeyMonth
    forecast: KeyMonth


def key_costs(session: Session, now: datetime | None = None) -> KeyCosts:
    """The key's calls and bill this month, last month and forecast to month end."""
    now = now or utcnow()
    first = month_of(now.date())
    last = previous_month(first)
    this_calls, last_calls = key_calls(session, first), key_calls(session, last)
    expected = forecast(this_calls, first, now)
    return KeyCosts(
        this_month=KeyMonth(first, this_calls, bill(this_calls), complete=False),
        last_month=KeyMonth(last, last_calls, bill(last_calls), complete=True),
        forecast=KeyMonth(first, expected, bill(expected), complete=False, forecast=True),
    )


@dataclass(frozen=True)
class TenantCosts:
    """A tenant's figures next to the key's: this month, last month, forecast."""

    tenant_id: int
    this_month: TenantMonth
    last_month: TenantMonth
    forecast: TenantMonth


def tenant_costs(
    session: Session, tenant_id: int, now: datetime | None = None, key: KeyCosts | None = None
) -> TenantCosts:
    """A tenant's calls and share of the key's bill (``key``: the key's figures, when the
    caller has them already)."""
    now = now or utcnow()
    key = key or key_costs(session, now)
    first = key.this_month.month
    this_calls = tenant_calls(session, tenant_id, first)
    last_calls = tenant_calls(session, tenant_id, key.last_month.month)
    return TenantCosts(
        tenant_id=tenant_id,
        this_month=TenantMonth(first, this_calls, key.this_month),
        last_month=TenantMonth(key.last_month.month, last_calls, key.last_month),
        forecast=TenantMonth(first, forecast(this_calls, first, now), key.forecast),
    )


def top_tenant_costs(
    session: Session, key: KeyCosts, limit: int = 10
) -> list[tuple[int, TenantMonth]]:
    """The month's biggest callers with their share so far: (tenant id, figures)."""
    first = key.this_month.month
    return [
        (tenant_id, TenantMonth(first, calls, key.this_month))
        for tenant_id, calls in top_tenants(session, first, limit)
    ]
