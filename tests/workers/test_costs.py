"""Cost figures over a seeded month: the key's bill, each tenant's share, the forecast."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from sqlalchemy.orm import Session

from billhive.workers import costs
from billhive.workers.models import UsageDay

#: Mid-month: 2026-12-16 00:00 UTC is 15 of 31 days into December.
NOW = datetime(2026, 12, 16, tzinfo=UTC)


def _seed(session: Session, tenant_id: int, per_day: dict[date, int]) -> None:
    for day, calls in per_day.items():
        session.add(UsageDay(tenant_id=tenant_id, day=day, calls=calls, throttled=0))
    session.commit()


@pytest.fixture
def seeded(db_session: Session, make_tenant: Callable[..., int]) -> tuple[int, int, int]:
    """Three tenants: 90,000 + 60,000 + 0 calls so far in December 2026, and
    40,000 + 20,000 + 100,000 in November."""
    big, small, idle = make_tenant(), make_tenant(), make_tenant()
    _seed(db_session, big, {date(2026, 12, d): 6_000 for d in range(1, 16)})
    _seed(db_session, small, {date(2026, 12, 1): 50_000, date(2026, 12, 15): 10_000})
    _seed(db_session, big, {date(2026, 11, 30): 40_000})
    _seed(db_session, small, {date(2026, 11, 1): 20_000})
    _seed(db_session, idle, {date(2026, 11, 10): 100_000})
    return big, small, idle


def test_the_bill_is_zero_within_the_free_calls_and_half_a_tenth_of_a_cent_after() -> None:
    assert costs.bill(100_000) == 0
    assert costs.bill(100_001) == Decimal("0.0005")
    assert costs.bill(300_000) == Decimal("100.0000")


def test_the_keys_month_so_far_last_month_and_forecast(
    db_session: Session, seeded: tuple[int, int, int]
) -> None:
    key = costs.key_costs(db_session, NOW)
    assert (key.this_month.calls, key.this_month.bill) == (150_000, Decimal("25.0000"))
    assert (key.last_month.calls, key.last_month.bill) == (160_000, Decimal("30.0000"))
    assert key.forecast.calls == round(150_000 * 31 / 15)  # 310,000
    assert key.forecast.bill == Decimal("105.0000")
    assert key.last_month.complete and not key.this_month.complete and key.forecast.forecast


def test_a_tenants_share_is_its_part_of_the_keys_calls_times_the_bill(
    db_session: Session, seeded: tuple[int, int, int]
) -> None:
    big, small, idle = seeded
    key = costs.key_costs(db_session, NOW)
    figures = {t: costs.tenant_costs(db_session, t, NOW, key) for t in seeded}
    assert figures[big].this_month.calls == 90_000
    assert figures[big].this_month.share == Decimal("15.0000")  # 90k / 150k of EUR 25
    assert figures[small].this_month.share == Decimal("10.0000")
    assert figures[idle].this_month.share == 0
    assert figures[idle].last_month.share == Decimal("18.7500")  # 100k / 160k of EUR 30
    shares = sum(f.this_month.share for f in figures.values())
    assert shares == key.this_month.bill  # the shares add up to the bill


def test_a_tenants_forecast_share_follows_the_keys_forecast(
    db_session: Session, seeded: tuple[int, int, int]
) -> None:
    big = seeded[0]
    figures = costs.tenant_costs(db_session, big, NOW)
    assert figures.forecast.calls == round(90_000 * 31 / 15)
    assert figures.forecast.share == Decimal("63.0000")  # 186k / 310k of EUR 105


def test_the_biggest_callers_come_first(db_session: Session, seeded: tuple[int, int, int]) -> None:
    big, small, _ = seeded
    key = costs.key_costs(db_session, NOW)
    top = costs.top_tenant_costs(db_session, key, limit=2)
    assert [(t, m.calls) for t, m in top] == [(big, 90_000), (small, 60_000)]


def test_the_forecast_of_a_months_first_minutes_reads_at_least_an_hour() -> None:
    first = date(2026, 12, 1)
    early = datetime(2026, 12, 1, 0, 1, tzinfo=UTC)
    assert costs.forecast(10, first, early) == 10 * 31 * 24


@pytest.mark.parametrize(
    ("day", "expected"),
    [(date(2026, 12, 1), date(2027, 1, 1)), (date(2027, 2, 1), date(2027, 3, 1))],
)
def test_months_roll_over_the_year_and_february(day: date, expected: date) -> None:
    assert costs.next_month(day) == expected
    assert costs.previous_month(expected) == day
