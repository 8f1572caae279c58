"""The reconciler brings Redis back in line with the calls the database holds."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from redis import Redis
from rq.job import Job, JobStatus
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from billhive.db import Database, utcnow
from billhive.tenants.models import TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.calls import CallRequest, enqueue_call, enqueue_calls, requeue_calls
from billhive.workers.models import Call, CallStatus, job_id_for
from billhive.workers.reconcile import MARKER_KEY, load_state, reconcile
from billhive.workers.scheduling.dispatcher import Dispatched, Dispatcher

NOW = timedelta(0)
LEASE = 135


def queue(redis: Redis, tenant: int) -> list[str]:
    return [j.decode() for j in redis.lrange(f"rq:queue:billhive:t:{tenant}", 0, -1)]


def run(session: Session, redis: Redis, vault: Vault, **options: object):  # type: ignore[no-untyped-def]
    return reconcile(session, redis, Dispatcher(redis), vault=vault, grace=NOW, **options)  # type: ignore[arg-type]


def enqueue(session: Session, redis: Redis, tenant: int, count: int, vault: Vault) -> list[int]:
    requests = [CallRequest("orders.get", {"id": 100 + n}) for n in range(count)]
    return [
        c.id for c in enqueue_calls(tenant, requests, session=session, redis=redis, vault=vault)
    ]


def lose_everything(redis: Redis) -> None:
    """What a Redis restarted without persistence holds: nothing."""
    redis.flushdb()


def test_calls_queued_before_redis_lost_everything_are_queued_again_in_each_tenants_order(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenants = [make_tenant() for _ in range(5)]
    ids = {t: enqueue(db_session, redis_client, t, 4, vault) for t in tenants}
    run(db_session, redis_client, vault)
    lose_everything(redis_client)
    report = run(db_session, redis_client, vault)
    assert report.loss_detected
    assert report.recovered == 20
    for tenant in tenants:
        assert queue(redis_client, tenant) == [job_id_for(i) for i in ids[tenant]]


def test_the_queued_again_calls_are_dispatched_with_their_limit_buckets(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    (call_id,) = enqueue(db_session, redis_client, tenant, 1, vault)
    lose_everything(redis_client)
    run(db_session, redis_client, vault)
    decision = Dispatcher(redis_client).pop()
    assert isinstance(decision, Dispatched)
    assert decision.job_id == job_id_for(call_id)
    assert redis_client.zcard(f"billhive:d:b:endpoint:billbee:{tenant}:orders.get") == 1


def test_a_run_with_nothing_missing_looks_only_at_calls_it_has_not_seen(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    for tenant in [make_tenant() for _ in range(30)]:
        enqueue(db_session, redis_client, tenant, 2, vault)
    first = run(db_session, redis_client, vault)
    assert (first.checked, first.recovered) == (60, 0)
    second = run(db_session, redis_client, vault)
    assert (second.checked, second.recovered, second.loss_detected) == (0, 0, False)
    new = make_tenant()
    enqueue(db_session, redis_client, new, 1, vault)
    third = run(db_session, redis_client, vault)
    assert (third.checked, third.recovered) == (1, 0)


def test_a_quiet_run_costs_the_same_few_queries_however_many_tenants_wait(
    db: Database,
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    vault: Vault,
) -> None:
    def statements_of_a_quiet_run(tenants: int) -> int:
        for tenant in [make_tenant() for _ in range(tenants)]:
            enqueue(db_session, redis_client, tenant, 1, vault)
        run(db_session, redis_client, vault)
        seen: list[str] = []

        def count(*args: object) -> None:
            seen.append(str(args[2]))

        event.listen(db.engine, "before_cursor_execute", count)
        try:
            run(db_session, redis_client, vault)
        finally:
            event.remove(db.engine, "before_cursor_execute", count)
        return len(seen)

    assert statements_of_a_quiet_run(5) == statements_of_a_quiet_run(100)


def test_jobs_redis_lost_after_the_last_run_are_found_although_the_marker_survived(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    kept = enqueue(db_session, redis_client, tenant, 3, vault)
    run(db_session, redis_client, vault)
    lost = enqueue(db_session, redis_client, tenant, 2, vault)
    # The last second of an append-only file: the newest pushes are gone.
    for call_id in lost:
        redis_client.lrem(f"rq:queue:billhive:t:{tenant}", 0, job_id_for(call_id))
        redis_client.delete(f"rq:job:{job_id_for(call_id)}")
    report = run(db_session, redis_client, vault)
    assert (report.loss_detected, report.recovered) == (False, 2)
    assert queue(redis_client, tenant) == [job_id_for(i) for i in [*kept, *lost]]


def test_another_marker_in_redis_makes_the_run_check_every_call_again(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    enqueue(db_session, redis_client, tenant, 3, vault)
    run(db_session, redis_client, vault)
    redis_client.set(MARKER_KEY, "from-an-older-snapshot")
    report = run(db_session, redis_client, vault)
    assert (report.loss_detected, report.checked, report.recovered) == (True, 3, 0)
    assert load_state(db_session).last_loss_at is not None


def test_a_call_younger_than_the_grace_is_left_for_a_later_run(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    enqueue(db_session, down, tenant, 1, vault)  # its push failed
    report = reconcile(db_session, redis_client, Dispatcher(redis_client), vault=vault)
    assert (report.checked, report.recovered) == (0, 0)
    assert run(db_session, redis_client, vault).recovered == 1


def test_a_running_call_redis_lost_goes_back_to_the_head_of_its_tenants_queue(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    first, *rest = enqueue(db_session, redis_client, tenant, 3, vault)
    call = db_session.get(Call, first)
    assert call is not None
    call.status, call.attempts, call.attempt_started_at = CallStatus.RUNNING, 1, utcnow()
    db_session.commit()
    lose_everything(redis_client)
    assert run(db_session, redis_client, vault).recovered == 3
    assert queue(redis_client, tenant) == [job_id_for(i) for i in [first, *rest]]


def test_a_running_call_whose_lease_ended_and_whose_job_ended_is_pushed_again(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    (call_id,) = enqueue(db_session, redis_client, tenant, 1, vault)
    run(db_session, redis_client, vault)
    redis_client.lrem(f"rq:queue:billhive:t:{tenant}", 0, job_id_for(call_id))
    Job.fetch(job_id_for(call_id), connection=redis_client).set_status(JobStatus.FAILED)
    call = db_session.get(Call, call_id)
    assert call is not None
    call.status, call.attempts = CallStatus.RUNNING, 1
    call.attempt_started_at = utcnow() - timedelta(seconds=LEASE + 1)
    db_session.commit()
    assert run(db_session, redis_client, vault).recovered == 1
    assert queue(redis_client, tenant) == [job_id_for(call_id)]


def test_a_running_call_whose_job_is_in_flight_is_left_alone(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    (call_id,) = enqueue(db_session, redis_client, tenant, 1, vault)
    run(db_session, redis_client, vault)
    assert isinstance(Dispatcher(redis_client).pop(), Dispatched)
    call = db_session.get(Call, call_id)
    assert call is not None
    call.status, call.attempts = CallStatus.RUNNING, 1
    call.attempt_started_at = utcnow() - timedelta(seconds=LEASE + 1)
    db_session.commit()
    assert run(db_session, redis_client, vault).recovered == 0
    assert queue(redis_client, tenant) == []


def test_a_queued_call_whose_rq_job_gave_up_is_pushed_again(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    (call_id,) = enqueue(db_session, redis_client, tenant, 1, vault)
    redis_client.lrem(f"rq:queue:billhive:t:{tenant}", 0, job_id_for(call_id))
    Job.fetch(job_id_for(call_id), connection=redis_client).set_status(JobStatus.FAILED)
    assert run(db_session, redis_client, vault).recovered == 1
    job = Job.fetch(job_id_for(call_id), connection=redis_client)
    assert job.get_status() == JobStatus.QUEUED
    assert queue(redis_client, tenant) == [job_id_for(call_id)]


def test_a_paused_tenants_recovered_calls_stay_paused(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant(status=TenantStatus.PAUSED)
    enqueue_call(tenant, "orders.list", {}, session=db_session, redis=redis_client, vault=vault)
    lose_everything(redis_client)
    run(db_session, redis_client, vault)
    dispatcher = Dispatcher(redis_client)
    assert dispatcher.is_paused(str(tenant))
    assert not isinstance(dispatcher.pop(), Dispatched)


def test_calls_an_operator_queues_again_are_checked_again(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    (call_id,) = enqueue(db_session, redis_client, tenant, 1, vault)
    enqueue(db_session, redis_client, tenant, 1, vault)
    call = db_session.get(Call, call_id)
    assert call is not None
    call.status = CallStatus.FAILED  # its job ran and failed
    db_session.commit()
    redis_client.lrem(f"rq:queue:billhive:t:{tenant}", 0, job_id_for(call_id))
    Job.fetch(job_id_for(call_id), connection=redis_client).set_status(JobStatus.FAILED)
    run(db_session, redis_client, vault)
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.5)
    assert requeue_calls([call_id], session=db_session, redis=down, vault=vault) == 1  # push failed
    assert run(db_session, redis_client, vault).recovered == 1
    assert queue(redis_client, tenant)[-1] == job_id_for(call_id)


def test_recovered_calls_are_counted_for_the_dashboard(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    enqueue(db_session, redis_client, make_tenant(), 2, vault)
    run(db_session, redis_client, vault)
    lose_everything(redis_client)
    run(db_session, redis_client, vault)
    state = load_state(db_session)
    assert (state.recovered_total, state.last_recovered) == (2, 2)
    assert state.last_recovered_at is not None


def test_one_run_at_a_time(db_session: Session, redis_client: Redis, vault: Vault) -> None:
    redis_client.set("billhive:reconcile:lock", "1")
    assert run(db_session, redis_client, vault).locked_out


def test_a_loss_puts_the_calls_of_long_windows_back_into_their_bucket_logs(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    call = enqueue_call(
        tenant, "orders.get", {"id": 7}, session=db_session, redis=redis_client, vault=vault
    )
    run(db_session, redis_client, vault)
    call.status, call.finished_at = CallStatus.SUCCEEDED, utcnow()
    call.attempt_started_at = utcnow() - timedelta(seconds=10)
    db_session.commit()
    lose_everything(redis_client)
    report = run(db_session, redis_client, vault)
    assert report.remembered == 1
    log = f"billhive:d:b:order_get:billbee:{tenant}:7"
    assert redis_client.zrange(log, 0, -1) != []
    assert redis_client.zcard(f"billhive:d:b:endpoint:billbee:{tenant}:orders.get") == 0


@pytest.mark.parametrize("status", [CallStatus.SUCCEEDED, CallStatus.CANCELLED])
def test_calls_that_ended_are_never_pushed_again(
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    status: CallStatus,
    vault: Vault,
) -> None:
    tenant = make_tenant()
    (call_id,) = enqueue(db_session, redis_client, tenant, 1, vault)
    db_session.execute(select(Call).where(Call.id == call_id))
    call = db_session.get(Call, call_id)
    assert call is not None
    call.status = status
    db_session.commit()
    lose_everything(redis_client)
    assert run(db_session, redis_client, vault).recovered == 0
    assert queue(redis_client, tenant) == []


def test_a_flight_redis_kept_for_a_call_that_ended_is_released(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    """A Redis restored from its file kept the tenant's flight but lost its release."""
    tenant = make_tenant()
    first, second = enqueue(db_session, redis_client, tenant, 2, vault)
    dispatcher = Dispatcher(redis_client)
    assert isinstance(dispatcher.pop(), Dispatched)
    call = db_session.get(Call, first)
    assert call is not None
    call.status, call.finished_at = CallStatus.SUCCEEDED, utcnow()
    db_session.commit()
    report = run(db_session, redis_client, vault)
    assert report.settled == 1
    decision = dispatcher.pop()
    assert isinstance(decision, Dispatched)
    assert decision.job_id == job_id_for(second)


def test_a_flight_of_a_call_still_queued_is_left_to_its_worker(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    enqueue(db_session, redis_client, tenant, 2, vault)
    dispatcher = Dispatcher(redis_client)
    assert isinstance(dispatcher.pop(), Dispatched)  # its worker is starting it
    assert run(db_session, redis_client, vault).settled == 0
    assert [f.tenant_id for f in dispatcher.flights().values()] == [str(tenant)]


def test_a_flight_whose_call_nobody_claimed_for_long_goes_back_to_the_head(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    """Redis kept the pop but its worker died (or Redis lost the rest) before the claim."""
    tenant = make_tenant()
    first, second = enqueue(db_session, redis_client, tenant, 2, vault)
    dispatcher = Dispatcher(redis_client)
    assert isinstance(dispatcher.pop(), Dispatched)
    redis_client.zadd("billhive:d:leases", {job_id_for(first): dispatcher.redis_time() - 31})
    report = run(db_session, redis_client, vault)
    assert (report.settled, report.recovered) == (0, 1)
    assert queue(redis_client, tenant) == [job_id_for(first), job_id_for(second)]
