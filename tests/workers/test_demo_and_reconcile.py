"""The dev demo stream and the reconciliation of paused queues."""

import random
from collections.abc import Callable

from sqlalchemy import select
from support.workers import work

from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers.control import reconcile_paused
from billhive.workers.demo import queue_round
from billhive.workers.models import Call, CallStatus
from billhive.workers.runtime import Runtime
from billhive.workers.scheduling.dispatcher import Dispatcher


def test_demo_rounds_use_earlier_results_to_push_stock_and_move_orders(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    signed_up(1)
    rng = random.Random(7)
    assert queue_round(runtime, rng) == 2  # nothing known yet: poll orders, list products
    work(runtime)
    second = queue_round(runtime, rng)
    assert second > 2
    work(runtime)
    with runtime.database.session() as session:
        calls = session.scalars(select(Call)).all()
    operations = {c.operation for c in calls}
    assert {"orders.list", "products.list", "products.update_stock"} <= operations
    assert {c.status for c in calls} == {CallStatus.SUCCEEDED}


def test_reconcile_resumes_queues_of_tenants_that_are_active_again(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    active, invalid = signed_up(1), signed_up(2)
    dispatcher = Dispatcher(runtime.redis)
    dispatcher.pause(str(active))
    dispatcher.pause(str(invalid))
    with runtime.database.session() as session:
        tenant = session.get(Tenant, invalid)
        assert tenant is not None
        tenant.status = TenantStatus.CREDENTIALS_INVALID
    with runtime.database.session() as session:
        assert reconcile_paused(session, runtime.redis) == 1
    assert not dispatcher.is_paused(str(active))
    assert dispatcher.is_paused(str(invalid))


def test_the_scheduler_registers_every_periodic_job(runtime: Runtime) -> None:
    from rq.cron import CronScheduler

    from billhive.delivery.cron import register_cron as register_api_jobs
    from billhive.workers.cron import register_cron_jobs

    scheduler = CronScheduler(connection=runtime.redis)
    register_cron_jobs(scheduler, runtime.settings.model_copy(update={"demo_stream": True}))
    register_api_jobs(scheduler)
    names = {job.func.__name__ for job in scheduler.get_jobs()}  # type: ignore[no-untyped-call]
    assert names >= {
        "queue_due_reverifications",
        "sweep_pending_verifications",
        "reconcile_paused_queues",
        "reconcile_calls",
        "queue_due_reconciliations",
        "demo_tick",
        "collect_finished_calls",
        "purge_idempotency_keys",
    }


def test_the_reconciler_runs_as_soon_as_the_scheduler_starts(runtime: Runtime) -> None:
    from rq.cron import CronScheduler

    from billhive.workers.cron import register_cron_jobs

    scheduler = CronScheduler(connection=runtime.redis)
    register_cron_jobs(scheduler, runtime.settings)
    (job,) = [j for j in scheduler.get_jobs() if j.name == "reconcile-calls"]  # type: ignore[no-untyped-call]
    assert job.should_run()  # an interval job that never ran is due at once
    assert job.interval == runtime.settings.reconcile_interval_seconds == 15
