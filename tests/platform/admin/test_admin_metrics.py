"""/metrics for Prometheus: series read from the database and Redis at scrape time."""

from __future__ import annotations

from typing import Any

from conftest import Made
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.workers.models import CallStatus, UsageDay


def _scrape(client: Any) -> str:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text: str = response.get_data(as_text=True)
    return text


def test_calls_are_counted_by_status_and_operation(client: Any, made: Made) -> None:
    tenant = made.tenant()
    made.call(tenant, status=CallStatus.FAILED, operation="products.get")
    made.call(tenant, status=CallStatus.FAILED, operation="products.get")
    text = _scrape(client)
    assert 'billhive_calls{operation="products.get",status="failed"} 2.0' in text


def test_throttled_answers_are_a_counter(client: Any, made: Made, session: Session) -> None:
    tenant = made.tenant()
    session.add(UsageDay(tenant_id=tenant.id, day=utcnow().date(), calls=9, throttled=4))
    session.commit()
    text = _scrape(client)
    assert "billhive_billbee_throttled_total 4.0" in text
    assert "billhive_billbee_calls_total 9.0" in text


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
    ):
        assert f"# TYPE {name} gauge" in text, name
