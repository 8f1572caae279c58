"""The overview page, its live figures, and the estimated bill."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from redis import Redis
from sqlalchemy import update
from sqlalchemy.orm import Session
from support.admin import Made

from billhive.db import utcnow
from billhive.feeds import backlog
from billhive.feeds.fetch import CONSUMER as FEED_CONSUMER
from billhive.feeds.models import EventType, Feed, FeedEvent, Resource
from billhive.feeds.service import poll_now, switch_on
from billhive.platform.admin.feed_figures import feed_share
from billhive.platform.admin.figures import estimated_bill
from billhive.tenants.models import TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers import stats
from billhive.workers.models import Call, CallStatus, Lane, ReconcilerState, UsageDay


def test_the_bill_is_zero_within_the_free_calls() -> None:
    assert estimated_bill(100_000) == Decimal(0)


def test_each_call_beyond_the_free_ones_costs_half_a_tenth_of_a_cent() -> None:
    assert estimated_bill(300_000) == Decimal("100.0000")


def test_the_overview_shows_tenants_per_status_failures_and_the_months_calls(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    made.tenant(name="Other", email="o@example.com", status=TenantStatus.PAUSED)
    made.call(tenant, status=CallStatus.FAILED)
    session.add(UsageDay(tenant_id=tenant.id, day=utcnow().date(), calls=150_000, throttled=3))
    session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "150,000" in page
    assert "€ 25.00" in page
    assert '<a href="/admin/calls?status=failed">1</a>' in page
    assert '<span class="badge paused">paused</span></a></td><td>1</td>' in page


def test_the_overview_charts_the_calls_per_minute(admin_client: Any, redis_client: Redis) -> None:
    stats.record_outcome(redis_client, "succeeded")
    stats.record_outcome(redis_client, "throttled")
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert ": 1 succeeded" in page and ": 1 throttled" in page


def test_the_live_figures_are_json(admin_client: Any) -> None:
    assert admin_client.get("/admin/live/overview").get_json() == {
        "key_budget_percent": 0.0,
        "jobs_queued": 0,
        "workers_alive": 0,
        "queued_interactive": 0,
        "queued_bulk": 0,
        "queued_background": 0,
        "calls_in_flight": 0,
        "in_flight_target": 0,
        "latency_ms": None,
    }


def test_the_live_figures_sum_what_the_worker_processes_report(
    admin_client: Any, redis_client: Redis
) -> None:
    from billhive.workers.stats import record_worker_load

    record_worker_load(redis_client, "w1", in_flight=7, target=12, latency=0.15)
    record_worker_load(redis_client, "w2", in_flight=5, target=12, latency=0.25)
    live = admin_client.get("/admin/live/overview").get_json()
    assert (live["calls_in_flight"], live["in_flight_target"], live["latency_ms"]) == (12, 24, 200)


def test_the_live_figures_count_the_queued_calls_of_each_lane(
    admin_client: Any, made: Made, session: Session, redis_client: Redis, vault: Vault
) -> None:
    from billhive.workers.calls import CallRequest, enqueue_calls

    tenant = made.tenant()
    enqueue_calls(
        tenant.id,
        [CallRequest("orders.list", {"page": n}) for n in range(1, 13)],  # a bulk batch
        session=session,
        redis=redis_client,
        vault=vault,
    )
    enqueue_calls(
        tenant.id,
        [CallRequest("orders.list", {"page": 1}, priority="background")],
        session=session,
        redis=redis_client,
        vault=vault,
    )
    live = admin_client.get("/admin/live/overview").get_json()
    assert (live["queued_bulk"], live["queued_background"], live["jobs_queued"]) == (12, 1, 13)


def test_the_overview_works_without_javascript(admin_client: Any) -> None:
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert 'data-field="jobs_queued">0<' in page


def test_the_overview_says_how_many_calls_were_recovered_and_when(
    admin_client: Any, session: Session
) -> None:
    at = datetime(2026, 12, 2, 10, 30, 5, tzinfo=UTC)
    session.add(
        ReconcilerState(
            id=1, cursor=0, recovered_total=1234, last_recovered=300, last_recovered_at=at
        )
    )
    session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "<strong>1,234</strong> calls pushed again" in page
    assert "the last 300 at" in page
    assert "2026-12-02 10:30:05 UTC" in page


def test_the_overview_says_when_no_call_had_to_be_recovered(admin_client: Any) -> None:
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "No call had to be recovered" in page


def test_the_overview_shows_last_month_the_forecast_and_the_biggest_callers(
    admin_client: Any, made: Made, session: Session
) -> None:
    from datetime import timedelta

    big = made.tenant(name="Big Shop")
    small = made.tenant(name="Small Shop", email="s@example.com")
    today = utcnow().date()
    last_month = today.replace(day=1) - timedelta(days=1)
    session.add_all(
        [
            UsageDay(tenant_id=big.id, day=today, calls=150_000, throttled=0),
            UsageDay(tenant_id=small.id, day=today, calls=50_000, throttled=0),
            UsageDay(tenant_id=small.id, day=last_month, calls=300_000, throttled=0),
        ]
    )
    session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "300,000 calls in" in page and "€ 100.00" in page  # last month
    table = page.split('id="cost-per-tenant"')[1].split("</section>")[0]
    assert table.index("Big Shop") < table.index("Small Shop")
    assert "<td>150,000</td><td>€ 37.50</td>" in table  # 150k of 200k calls, of EUR 50


def test_the_overview_lists_tenants_needing_a_look(
    admin_client: Any, made: Made, session: Session
) -> None:
    from billhive.workers.usage_models import UsageReconciliation

    counted = made.tenant(name="Counted Elsewhere")
    budgeted = made.tenant(name="On A Budget", email="b@example.com")
    refused = made.tenant(name="No Invoices", email="n@example.com")
    today = utcnow().date()
    session.add(
        UsageReconciliation(
            tenant_id=counted.id, month=today.replace(day=1), billbee_calls=900, billhive_calls=100
        )
    )
    budgeted.monthly_call_budget = 10
    session.add(UsageDay(tenant_id=budgeted.id, day=today, calls=12, throttled=0))
    refused.invoice_refused_at = utcnow()
    session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    differences = page.split('id="usage-differences"')[1].split("</section>")[0]
    assert "Counted Elsewhere" in differences and "difference +800" in differences
    assert "On A Budget</a>: 12 of 10 (soft)" in page.split('id="over-budget"')[1]
    assert "No Invoices" in page.split('id="invoice-refused"')[1]


def _fetch_calls(session: Session, tenant_id: int, count: int, minutes_ago: float) -> None:
    started = utcnow() - timedelta(minutes=minutes_ago)
    session.add_all(
        Call(
            tenant_id=tenant_id,
            operation="orders.list",
            status=CallStatus.SUCCEEDED,
            lane=Lane.BACKGROUND,
            consumer=FEED_CONSUMER,
            enqueued_at=started,
            started_at=started,
            finished_at=started,
        )
        for _ in range(count)
    )
    session.commit()


def test_the_overview_shows_the_feed_fetches_share_of_the_key(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    switch_on(session, tenant.id, [Resource.ORDERS, Resource.STOCK])
    _fetch_calls(session, tenant.id, 150, minutes_ago=1)  # 150 in 5 min: 0.5/s, 1% of 50/s
    _fetch_calls(session, tenant.id, 40, minutes_ago=6)  # before the window
    made.call(tenant, operation="orders.list")  # the vendor's own call, not a feed's
    page = admin_client.get("/admin/").get_data(as_text=True)
    share = page.split('id="feed-share"', 1)[1].split("</article>", 1)[0]
    assert "1.0 %" in share
    assert "0.5 fetches/s over the last 5 min for 2 feeds on" in share
    assert "capped at 10.0 %" in share


def test_the_feed_share_panel_says_when_fetches_are_backlogged_and_what_share_would_keep_up(
    admin_client: Any, made: Made, session: Session, redis_client: Redis
) -> None:
    now = utcnow()
    # The poller's last two ticks, a second apart: 5 started each, 3 more came due between.
    backlog.record(session, redis_client, started=5, now=now - timedelta(seconds=1))
    waiting = [made.tenant(name=f"Shop {n}", email=f"s{n}@example.com") for n in range(3)]
    for tenant in waiting:
        switch_on(session, tenant.id, [Resource.ORDERS])
    session.execute(update(Feed).values(next_poll_at=now - timedelta(seconds=40)))
    session.commit()
    poll_now(session, waiting[0].id, now=now - timedelta(seconds=20))
    backlog.record(session, redis_client, started=5, now=now)
    page = admin_client.get("/admin/").get_data(as_text=True)
    share = page.split('id="feed-share"', 1)[1].split("</article>", 1)[0]
    assert "Backlogged: 3 fetches wait (1 triggered by webhooks), the oldest for 40 s" in share
    found = backlog.read(redis_client)
    assert found is not None and found.needed_share > 0.1  # more than the 10 % cap
    assert f"keeping up needs {round(100 * found.needed_share, 1)} % of the key" in share


def test_the_feed_share_panel_shows_no_backlog_warning_while_fetches_keep_up(
    admin_client: Any, session: Session, redis_client: Redis
) -> None:
    backlog.record(session, redis_client, started=2, now=utcnow())
    page = admin_client.get("/admin/").get_data(as_text=True)
    share = page.split('id="feed-share"', 1)[1].split("</article>", 1)[0]
    assert "No backlog: 0 waiting" in share and "Backlogged" not in share


def test_feed_share_counts_only_the_feed_fetches_of_the_window(
    made: Made, session: Session
) -> None:
    tenant = made.tenant()
    _fetch_calls(session, tenant.id, 30, minutes_ago=0.5)
    _fetch_calls(session, tenant.id, 7, minutes_ago=2)
    made.call(tenant, operation="orders.list")
    share = feed_share(session, 0.3, minutes=1)
    assert (share.fetches, share.per_second, share.percent) == (30, 0.5, 1.0)
    assert share.cap_percent == 30.0


def test_the_overview_lists_the_newest_feed_events_without_personal_data(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant(name="Kaffee Shop", email="owner@kaffee.example")
    for n in range(20):
        session.add(
            FeedEvent(
                event_id=f"evt_overview_{n}",
                tenant_id=tenant.id,
                resource=Resource.ORDERS,
                type=EventType.ORDER_CHANGED if n % 2 else EventType.ORDER_CREATED,
                record_id=str(900_000 + n),
                changed=["State"],
            )
        )
    session.commit()
    page = admin_client.get("/admin/").get_data(as_text=True)
    panel = page.split('id="feed-events"', 1)[1].split("</section>", 1)[0]
    assert panel.index("900019") < panel.index("900018")  # newest first
    assert "900004" not in panel  # only the newest 15
    assert "order.changed" in panel and "order.created" in panel
    assert f'href="/admin/tenants/{tenant.id}">Kaffee Shop</a>' in panel
    assert "owner@kaffee.example" not in panel


def test_the_overview_says_when_no_feed_event_was_made_yet(admin_client: Any) -> None:
    page = admin_client.get("/admin/").get_data(as_text=True)
    assert "No feed events yet" in page
