"""Operator controls: pause and resume a tenant, queue depths, workers alive."""

from collections.abc import Callable

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.tenants.models import AuditEvent, Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.control import (
    TenantStateError,
    pause_tenant,
    queue_depth,
    queue_depths,
    resume_tenant,
    total_queued,
    workers_alive,
)
from billhive.workers.scheduling.dispatcher import Dispatcher


def test_pausing_a_tenant_changes_its_status_and_pauses_its_queue(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int]
) -> None:
    tenant_id = make_tenant()
    pause_tenant(db_session, redis_client, tenant_id, actor="admin:1", reason="maintenance")
    assert db_session.get(Tenant, tenant_id).status is TenantStatus.PAUSED  # type: ignore[union-attr]
    assert Dispatcher(redis_client).is_paused(str(tenant_id))
    event = db_session.scalars(select(AuditEvent).where(AuditEvent.tenant_id == tenant_id)).one()
    assert (event.actor, event.from_status, event.to_status) == ("admin:1", "active", "paused")


def test_resuming_makes_the_tenant_active_and_its_queue_dispatchable(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int]
) -> None:
    tenant_id = make_tenant()
    pause_tenant(db_session, redis_client, tenant_id, actor="cli", reason="x")
    resume_tenant(db_session, redis_client, tenant_id, actor="cli", reason="y")
    assert db_session.get(Tenant, tenant_id).status is TenantStatus.ACTIVE  # type: ignore[union-attr]
    assert not Dispatcher(redis_client).is_paused(str(tenant_id))


@pytest.mark.parametrize("status", [TenantStatus.CREDENTIALS_INVALID, TenantStatus.DELETED])
def test_a_tenant_without_working_credentials_cannot_be_resumed_by_hand(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], status: TenantStatus
) -> None:
    tenant_id = make_tenant(status=status)
    with pytest.raises(TenantStateError, match=status.value):
        resume_tenant(db_session, redis_client, tenant_id, actor="cli", reason="try")


def test_queue_depths_count_waiting_jobs_per_tenant(redis_client: Redis) -> None:
    dispatcher = Dispatcher(redis_client)
    for job in ("a", "b", "c"):
        dispatcher.push("7", job)
    dispatcher.push("8", "d")
    assert queue_depth(redis_client, 7) == 3
    assert queue_depths(redis_client, [7, 8, 9]) == {7: 3, 8: 1, 9: 0}
    assert total_queued(redis_client) == 4


def test_no_worker_is_alive_when_none_runs(redis_client: Redis) -> None:
    assert workers_alive(redis_client) == 0


def test_purging_a_deleted_tenant_cancels_its_queued_calls_and_empties_its_queue(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    from billhive.workers.calls import enqueue_call
    from billhive.workers.control import purge_deleted_tenants
    from billhive.workers.models import Call, CallStatus

    tenant = make_tenant()
    calls = [
        enqueue_call(tenant, "orders.list", session=db_session, redis=redis_client, vault=vault)
        for _ in range(3)
    ]
    db_session.get(Tenant, tenant).status = TenantStatus.DELETED  # type: ignore[union-attr]
    db_session.commit()
    assert purge_deleted_tenants(db_session, redis_client) == 1
    statuses = {db_session.get(Call, c.id).status for c in calls}  # type: ignore[union-attr]
    assert statuses == {CallStatus.CANCELLED}
    assert queue_depth(redis_client, tenant) == 0
    assert not redis_client.exists(f"rq:job:{calls[0].job_id}")
    assert purge_deleted_tenants(db_session, redis_client) == 0
