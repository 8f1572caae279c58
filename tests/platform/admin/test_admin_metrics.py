"""/metrics for Prometheus: series read from the database and Redis at scrape time."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.admin import Made

from billhive.config import Settings
from billhive.db import utcnow
from billhive.platform.admin import metrics_tally as tally
from billhive.workers.models import CallStatus, ReconcilerState, UsageDay

METRICS_TOKEN = "metrics-" + "0123456789abcdefghijklmnopqrstuvwxyz"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db: Any) -> Settings:
    """Settings with a metrics token, so /metrics answers."""
    return settings_factory(metrics_token=METRICS_TOKEN)


def _scrape(client: Any) -> str:
    response = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text: str = response.get_data(as_text=True)
    return text


@pytest.fixture(autouse=True)
def _no_lag(monkeypatch: pytest.MonkeyPatch) -> None:
    # The running totals normally stay a minute behind; the tests want every call now.
    monkeypatch.setattr(tally, "LAG_SECONDS", 0.0)


def test_finished_calls_are_counted_by_status_and_operation(client: Any, made: Made) -> None:
    tenant = made.tenant()
    made.call(tenant, status=CallStatus.FAILED, operation="products.get")
    made.call(tenant, status=CallStatus.FAILED, operation="products.get")
    text = _scrape(client)
    assert 'billhive_calls_finished_total{operation="products.get",status="failed"} 2.0' in text


def test_a_second_scrape_does_not_count_the_same_calls_again(client: Any, made: Made) -> None:
    made.call(made.tenant(), status=CallStatus.SUCCEEDED, operation="orders.get")
    _scrape(client)
    text = _scrape(client)
    assert 'billhive_calls_finished_total{operation="orders.get",status="succeeded"} 1.0' in text


def test_calls_finishing_after_a_scrape_are_added_at_the_next(
    client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    made.call(tenant, status=CallStatus.SUCCEEDED, operation="orders.get")
    _scrape(client)
    later = made.call(tenant, status=CallStatus.SUCCEEDED, operation="orders.get")
    later.finished_at = utcnow()
    session.commit()
    text = _scrape(client)
    assert 'billhive_calls_finished_total{operation="orders.get",status="succeeded"} 2.0' in text


def test_queued_calls_are_a_gauge(client: Any, made: Made) -> None:
    made.call(made.tenant(), status=CallStatus.QUEUED)
    text = _scrape(client)
    assert 'billhive_calls_open{status="queued"} 1.0' in text
    assert 'billhive_calls_open{status="running"} 0.0' in text


def test_throttled_answers_of_the_month_are_reported(
    client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    session.add(UsageDay(tenant_id=tenant.id, day=utcnow().date(), calls=9, throttled=4))
    session.commit()
    text = _scrape(client)
    assert "billhive_billbee_throttled_this_month 4.0" in text
    assert "billhive_billbee_calls_this_month 9.0" in text


def test_the_wait_from_enqueue_to_start_is_a_histogram(client: Any, made: Made) -> None:
    made.call(made.tenant())  # waited one second
    text = _scrape(client)
    assert 'billhive_call_wait_seconds_bucket{le="0.5"} 0.0' in text
    assert 'billhive_call_wait_seconds_bucket{le="2.5"} 1.0' in text
    assert 'billhive_call_wait_seconds_bucket{le="+Inf"} 1.0' in text
    assert "billhive_call_wait_seconds_count 1.0" in text


def test_queue_and_budget_gauges_are_present(client: Any) -> None:
    text = _scrape(client)
    for name in (
        "billhive_jobs_queued",
        "billhive_workers_alive",
        "billhive_key_budget_in_use",
        "billhive_tenants",
        "billhive_queue_depth",
        "billhive_billbee_throttled_last_minute",
    ):
        assert f"# TYPE {name} gauge" in text, name


def test_calls_the_reconciler_recovered_are_a_counter(client: Any, session: Session) -> None:
    session.add(
        ReconcilerState(
            id=1,
            cursor=0,
            recovered_total=300,
            last_recovered=300,
            last_recovered_at=utcnow(),
            last_run_at=utcnow(),
        )
    )
    session.commit()
    text = _scrape(client)
    assert "billhive_calls_recovered_total 300.0" in text
    assert "# TYPE billhive_reconciler_last_run_timestamp_seconds gauge" in text
    assert "billhive_calls_recovered_last_timestamp_seconds 0.0" not in text


def test_metrics_without_the_token_are_refused(client: Any) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": METRICS_TOKEN}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 401
        assert "billhive_" not in response.get_data(as_text=True)


def test_metrics_are_not_served_while_no_token_is_configured(
    settings_factory: Callable[..., Settings], made: Made
) -> None:
    from billhive.platform import create_app

    made.call(made.tenant(), status=CallStatus.QUEUED)
    client = create_app(settings_factory()).test_client()
    response = client.get("/metrics")
    assert response.status_code == 404
    assert "billhive_" not in response.get_data(as_text=True)
