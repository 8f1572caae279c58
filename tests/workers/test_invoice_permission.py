"""The invoice permission, enforced: refused at enqueue, and recorded as off when Billbee
refuses an invoice although the merchant had said it was allowed."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.workers import API_KEY, PASSWORD, account_username, work

from billhive.db import Database
from billhive.tenants.models import AuditEvent, Tenant
from billhive.tenants.vault import Vault
from billhive.workers.calls import (
    CallRequest,
    InvoicePermissionMissing,
    StockItem,
    enqueue_call,
    enqueue_calls,
    enqueue_stock_updates,
)
from billhive.workers.models import Call, CallStatus
from billhive.workers.runtime import Runtime


def _allow(db: Database, tenant_id: int, allowed: bool) -> None:
    with db.session() as session:
        tenant = session.get(Tenant, tenant_id)
        assert tenant is not None
        tenant.invoice_creation_allowed = allowed
        session.commit()


@pytest.mark.parametrize("operation", ["orders.create_invoice", "orders.create_delivery_note"])
def test_an_invoice_call_of_a_tenant_without_the_permission_is_refused_at_enqueue(
    db: Database,
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    operation: str,
    vault: Vault,
) -> None:
    tenant_id = make_tenant()
    with pytest.raises(InvoicePermissionMissing) as caught:
        enqueue_call(
            tenant_id, operation, {"id": 7}, session=db_session, redis=redis_client, vault=vault
        )
    assert caught.value.field == "operation"
    assert "Rechnungserstellung" in caught.value.message
    assert db_session.scalars(select(Call)).first() is None


def test_an_invoice_call_of_a_tenant_with_the_permission_is_queued(
    db: Database,
    db_session: Session,
    redis_client: Redis,
    make_tenant: Callable[..., int],
    vault: Vault,
) -> None:
    tenant_id = make_tenant()
    _allow(db, tenant_id, True)
    call = enqueue_call(
        tenant_id,
        "orders.create_invoice",
        {"id": 7},
        session=db_session,
        redis=redis_client,
        vault=vault,
    )
    assert call.status is CallStatus.QUEUED


def test_other_calls_of_a_tenant_without_the_permission_are_queued(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant_id = make_tenant()
    call = enqueue_call(
        tenant_id, "orders.get", {"id": 7}, session=db_session, redis=redis_client, vault=vault
    )
    stock = enqueue_stock_updates(
        tenant_id, [StockItem("S-1", 3)], session=db_session, redis=redis_client, vault=vault
    )
    assert call.id and stock[0].id


def test_a_batch_holding_one_invoice_call_is_refused_whole(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant_id = make_tenant()
    requests = [
        CallRequest("orders.get", {"id": 1}),
        CallRequest("orders.create_invoice", {"id": 1}),
    ]
    with pytest.raises(InvoicePermissionMissing):
        enqueue_calls(tenant_id, requests, session=db_session, redis=redis_client, vault=vault)
    assert db_session.scalars(select(Call)).first() is None


def test_billbee_refusing_an_invoice_records_the_permission_as_off(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant_id = signed_up(1)  # the sandbox account has invoice creation switched off
    _allow(runtime.database, tenant_id, True)  # ... but the merchant said it was on
    orders = httpx.get(
        f"{runtime.settings.billbee_base_url}/orders",
        headers={"X-Billbee-Api-Key": API_KEY},
        auth=(account_username(1), PASSWORD),
    ).json()["Data"]
    order_id = orders[0]["BillBeeOrderId"]
    with runtime.database.session() as session:
        call_id = enqueue_call(
            tenant_id,
            "orders.create_invoice",
            {"id": order_id},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        ).id
    work(runtime)
    with runtime.database.session() as session:
        call = session.get(Call, call_id)
        tenant = session.get(Tenant, tenant_id)
        assert call is not None and tenant is not None
        assert call.status is CallStatus.FAILED
        assert call.error_name == "CantCreateInvoice"
        assert tenant.invoice_creation_allowed is False
        assert tenant.invoice_refused_at is not None
        events = session.scalars(
            select(AuditEvent.action).where(AuditEvent.tenant_id == tenant_id)
        ).all()
        assert "invoice_permission_refused" in events
        with pytest.raises(InvoicePermissionMissing, match="Billbee refused one on"):
            enqueue_call(
                tenant_id,
                "orders.create_invoice",
                {"id": order_id},
                session=session,
                redis=runtime.redis,
                vault=runtime.vault,
            )
