"""Enqueueing calls: validation, the Call row and its job, cancel and requeue."""

from collections.abc import Callable
from datetime import timedelta

import pytest
from redis import Redis
from rq.job import Job
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.sealed import payload_of

from billhive.db import Database
from billhive.tenants.models import TenantStatus
from billhive.tenants.vault import Vault
from billhive.tokens.models import ApiToken
from billhive.workers.calls import (
    CallRejected,
    CallRequest,
    StockItem,
    UnknownTenant,
    cancel_call,
    enqueue_call,
    enqueue_calls,
    enqueue_stock_updates,
    requeue_calls,
)
from billhive.workers.control import queue_depth
from billhive.workers.models import Call, CallStatus, job_id_for
from billhive.workers.queues import TenantQueue
from billhive.workers.reconcile import reconcile
from billhive.workers.scheduling.dispatcher import Dispatcher


def test_enqueue_records_a_queued_call_and_puts_its_job_on_the_tenants_queue(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    call = enqueue_call(
        tenant, "orders.get", {"id": 42}, session=db_session, redis=redis_client, vault=vault
    )
    assert (call.status, call.operation, payload_of(db_session, vault, call).params) == (
        CallStatus.QUEUED,
        "orders.get",
        {"id": 42},
    )
    assert call.job_id == job_id_for(call.id)
    assert queue_depth(redis_client, tenant) == 1
    job = Job.fetch(call.job_id, connection=redis_client)
    assert job.args == (call.id,)  # ids only: never a credential


def test_python_style_parameter_names_are_stored_under_billbees_names(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    call = enqueue_call(
        make_tenant(),
        "orders.list",
        {"page_size": 10},
        session=db_session,
        redis=redis_client,
        vault=vault,
    )
    assert payload_of(db_session, vault, call).params == {"pageSize": 10}


@pytest.mark.parametrize(
    ("operation", "params", "body", "field"),
    [
        ("orders.teleport", None, None, "operation"),
        ("orders.get", {}, None, "params.id"),
        ("orders.get", {"id": 1, "colour": "red"}, None, "params.colour"),
        ("orders.get", {"id": ".."}, None, "params.id"),
        ("products.get_image", {"image_id": ".."}, None, "params.imageId"),
        ("products.get", {"id": "../orders"}, None, "params.id"),
        ("webhooks.get", {"id": "."}, None, "params.id"),
        ("orders.list", None, {"x": 1}, "body"),
    ],
)
def test_bad_requests_are_refused_naming_the_field_and_store_nothing(
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    operation: str,
    params: dict | None,
    body: object,
    field: str,
    vault: Vault,
) -> None:
    tenant = make_tenant()
    with pytest.raises(CallRejected) as caught:
        enqueue_call(
            tenant,
            operation,
            params,
            body=body,
            session=db_session,
            redis=redis_client,
            vault=vault,
        )
    assert caught.value.field == field
    assert db_session.scalars(select(Call)).all() == []
    assert queue_depth(redis_client, tenant) == 0


@pytest.mark.parametrize("items", [1, 3])
def test_an_unknown_tenant_is_refused_and_nothing_is_stored(
    db_session: Session, redis_client: Redis, items: int, vault: Vault
) -> None:
    with pytest.raises(UnknownTenant, match="no tenant with id 999") as caught:
        if items == 1:
            enqueue_call(999, "orders.list", session=db_session, redis=redis_client, vault=vault)
        else:
            stock = [StockItem(sku=f"S{i}", quantity=i) for i in range(items)]
            enqueue_stock_updates(999, stock, session=db_session, redis=redis_client, vault=vault)
    assert caught.value.field == "tenant_id"
    assert db_session.scalars(select(Call)).all() == []


def test_the_asking_api_token_is_recorded_on_the_call(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    token = ApiToken(public_id="bh_test", secret_hash="0" * 64, name="erp", all_tenants=True)
    db_session.add(token)
    db_session.commit()
    tenant = make_tenant()
    single = enqueue_call(
        tenant,
        "orders.list",
        session=db_session,
        redis=redis_client,
        vault=vault,
        origin_token_id=token.id,
    )
    batch = enqueue_stock_updates(
        tenant,
        [StockItem(sku="A", quantity=1), StockItem(sku="B", quantity=2)],
        session=db_session,
        redis=redis_client,
        vault=vault,
        origin_token_id=token.id,
    )
    db_session.expire_all()
    stored = db_session.scalars(select(Call.origin_token_id).order_by(Call.id)).all()
    assert [single.origin_token_id, *(c.origin_token_id for c in batch)] == [token.id] * 3
    assert stored == [token.id] * 3


@pytest.mark.parametrize("status", [TenantStatus.DELETED, TenantStatus.DISABLED])
def test_a_deleted_or_disabled_tenant_takes_no_calls(
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    status: TenantStatus,
    vault: Vault,
) -> None:
    with pytest.raises(CallRejected, match=status.value):
        enqueue_call(
            make_tenant(status=status),
            "orders.list",
            session=db_session,
            redis=redis_client,
            vault=vault,
        )


def test_a_paused_tenant_still_collects_calls_in_its_queue(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant(status=TenantStatus.PAUSED)
    enqueue_call(tenant, "orders.list", session=db_session, redis=redis_client, vault=vault)
    assert queue_depth(redis_client, tenant) == 1


@pytest.mark.parametrize(
    ("item", "field"),
    [
        (StockItem(sku="", quantity=1), "sku"),
        (StockItem(sku="A", quantity="many"), "quantity"),  # type: ignore[arg-type]
        (StockItem(sku="A", quantity=float("nan")), "quantity"),
        (StockItem(sku="A", quantity=1, stock_id="main"), "stock_id"),  # type: ignore[arg-type]
        (StockItem(sku="x" * 256, quantity=1), "sku"),
    ],
)
def test_bad_stock_items_are_refused_naming_the_field(
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    item: StockItem,
    field: str,
    vault: Vault,
) -> None:
    with pytest.raises(CallRejected) as caught:
        enqueue_stock_updates(
            make_tenant(), [item], session=db_session, redis=redis_client, vault=vault
        )
    assert caught.value.field == field


def test_a_bad_item_in_a_batch_names_its_position_and_stores_none_of_the_batch(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    items = [StockItem(sku="A", quantity=1), StockItem(sku="", quantity=2)]
    with pytest.raises(CallRejected) as caught:
        enqueue_stock_updates(
            make_tenant(), items, session=db_session, redis=redis_client, vault=vault
        )
    assert caught.value.field == "items[1].sku"
    assert db_session.scalars(select(Call)).all() == []


def test_update_stock_through_enqueue_call_takes_the_stock_path(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    call = enqueue_call(
        make_tenant(),
        "products.update_stock",
        body={"Sku": "A-1", "NewQuantity": 5},
        session=db_session,
        redis=redis_client,
        vault=vault,
    )
    job = Job.fetch(call.job_id, connection=redis_client)
    assert job.func_name == "billhive.workers.jobs.run_stock_update"
    assert payload_of(db_session, vault, call).body == {"Sku": "A-1", "NewQuantity": 5}


def test_a_queued_call_can_be_cancelled_and_leaves_the_queue(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    call = enqueue_call(tenant, "orders.list", session=db_session, redis=redis_client, vault=vault)
    assert cancel_call(call.id, session=db_session, redis=redis_client) is True
    db_session.refresh(call)
    assert call.status is CallStatus.CANCELLED and call.finished_at is not None
    assert queue_depth(redis_client, tenant) == 0


def test_a_finished_call_cannot_be_cancelled(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    call = enqueue_call(
        make_tenant(), "orders.list", session=db_session, redis=redis_client, vault=vault
    )
    call.status = CallStatus.SUCCEEDED
    db_session.commit()
    assert cancel_call(call.id, session=db_session, redis=redis_client) is False


def test_failed_calls_are_requeued_at_the_tail_with_fresh_attempts(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    failed = enqueue_call(
        tenant, "orders.list", session=db_session, redis=redis_client, vault=vault
    )
    failed.status, failed.attempts, failed.error = CallStatus.FAILED, 5, "ServerError"
    db_session.commit()
    redis_client.delete(f"rq:queue:billhive:t:{tenant}")
    later = enqueue_call(tenant, "orders.list", session=db_session, redis=redis_client, vault=vault)
    assert (
        requeue_calls([failed.id, later.id], session=db_session, redis=redis_client, vault=vault)
        == 1
    )
    db_session.refresh(failed)
    assert (failed.status, failed.attempts, failed.error) == (CallStatus.QUEUED, 0, None)
    queued = [j.decode() for j in redis_client.lrange(f"rq:queue:billhive:t:{tenant}", 0, -1)]
    assert queued == [job_id_for(later.id), job_id_for(failed.id)]


def test_a_batch_is_recorded_and_queued_in_order(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    requests = [CallRequest("orders.get", {"id": n}) for n in (3, 1, 2)]
    calls = enqueue_calls(tenant, requests, session=db_session, redis=redis_client, vault=vault)
    assert [payload_of(db_session, vault, c).params["id"] for c in calls] == [3, 1, 2]
    assert TenantQueue.for_tenant(str(tenant), redis_client).get_job_ids() == [
        c.job_id for c in calls
    ]


def test_a_bad_request_in_a_batch_names_its_position_and_stores_none_of_the_batch(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    requests = [CallRequest("orders.get", {"id": 1}), CallRequest("orders.get", {})]
    with pytest.raises(CallRejected) as caught:
        enqueue_calls(tenant, requests, session=db_session, redis=redis_client, vault=vault)
    assert caught.value.field == "calls[1].params.id"
    assert db_session.scalars(select(Call)).all() == []
    assert queue_depth(redis_client, tenant) == 0


@pytest.mark.parametrize("count", [1, 3])
def test_calls_whose_jobs_redis_refuses_stay_queued_and_the_reconciler_pushes_them(
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    count: int,
    vault: Vault,
) -> None:
    tenant = make_tenant()
    down = Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)
    requests = [CallRequest("orders.get", {"id": n}) for n in range(count)]
    calls = enqueue_calls(tenant, requests, session=db_session, redis=down, vault=vault)
    db_session.expire_all()
    assert {c.status for c in db_session.scalars(select(Call)).all()} == {CallStatus.QUEUED}
    assert queue_depth(redis_client, tenant) == 0
    reconcile(db_session, redis_client, Dispatcher(redis_client), vault=vault, grace=timedelta(0))
    queued = redis_client.lrange(f"rq:queue:billhive:t:{tenant}", 0, -1)
    assert queued == [job_id_for(c.id).encode() for c in calls]


def test_a_call_is_queued_after_redis_lost_its_script_cache(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    enqueue_call(
        tenant, "orders.get", {"id": 1}, session=db_session, redis=redis_client, vault=vault
    )
    redis_client.script_flush()  # as after a Redis restart
    call = enqueue_call(
        tenant, "orders.get", {"id": 2}, session=db_session, redis=redis_client, vault=vault
    )
    assert TenantQueue.for_tenant(str(tenant), redis_client).job_ids[-1] == call.job_id


def test_a_call_enqueued_by_a_fresh_session_is_committed_for_every_reader(
    db: Database,
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    vault: Vault,
) -> None:
    call = enqueue_call(
        make_tenant(), "orders.get", {"id": 1}, session=db_session, redis=redis_client, vault=vault
    )
    with db.session() as other:
        assert other.get(Call, call.id) is not None


def test_a_call_enqueued_inside_an_open_transaction_commits_it_too(
    db: Database,
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    vault: Vault,
) -> None:
    tenant = make_tenant()
    token = ApiToken(public_id="bh_open", secret_hash="0" * 64, name="erp", all_tenants=True)
    db_session.add(token)
    db_session.flush()  # the session's transaction has begun
    call = enqueue_call(
        tenant,
        "orders.get",
        {"id": 1},
        session=db_session,
        redis=redis_client,
        vault=vault,
        origin_token_id=token.id,
    )
    with db.session() as other:
        assert other.get(Call, call.id) is not None
        assert other.get(ApiToken, token.id) is not None
