"""Periodic re-verification: spread over the period, through the tenant's own queue."""

from collections.abc import Callable
from datetime import timedelta

import httpx
from support.workers import work

from billhive.db import utcnow
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers.control import queue_depth
from billhive.workers.reverify import batch_size, queue_due
from billhive.workers.runtime import Runtime
from billhive.workers.scheduling.dispatcher import Dispatcher


def _age(runtime: Runtime, tenant_id: int, hours: float) -> None:
    with runtime.database.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.verified_at = utcnow() - timedelta(hours=hours)


def _tenant(runtime: Runtime, tenant_id: int) -> Tenant:
    with runtime.database.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        return tenant


def test_each_run_takes_just_enough_tenants_to_cover_everyone_once_per_period() -> None:
    assert batch_size(100_000, 24 * 3600) == 70  # 1,440 runs a day
    assert batch_size(10, 24 * 3600) == 1
    assert batch_size(0, 24 * 3600) == 0


def test_only_overdue_tenants_are_queued_on_their_own_queue(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    fresh, overdue = signed_up(1), signed_up(2)
    _age(runtime, overdue, 30)
    assert queue_due(runtime) == 1
    assert queue_depth(runtime.redis, overdue) == 1
    assert queue_depth(runtime.redis, fresh) == 0
    assert queue_due(runtime) == 0  # already waiting: not queued twice


def test_a_successful_reverification_renews_verified_at(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    _age(runtime, tenant, 30)
    queue_due(runtime)
    work(runtime)
    verified_at = _tenant(runtime, tenant).verified_at
    assert verified_at is not None and utcnow() - verified_at < timedelta(minutes=1)


def test_changed_credentials_mark_the_tenant_and_pause_its_queue(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(3)
    _age(runtime, tenant, 30)
    httpx.patch(f"{sandbox.url}/api/v1/_sandbox/accounts/3", json={"password": "Changed!Pass99"})  # type: ignore[attr-defined]
    queue_due(runtime)
    work(runtime)
    assert _tenant(runtime, tenant).status is TenantStatus.CREDENTIALS_INVALID
    assert Dispatcher(runtime.redis).is_paused(str(tenant))
