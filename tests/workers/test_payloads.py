"""Call payloads are sealed with the tenant's data key, bound to tenant, call and field."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import event, select, text
from sqlalchemy.orm import Session
from support.sealed import payload_of

from billhive.tenants.errors import VaultError
from billhive.tenants.service import delete_tenant
from billhive.tenants.vault import Vault
from billhive.workers import payloads
from billhive.workers.calls import (
    CallRequest,
    StockItem,
    enqueue_call,
    enqueue_calls,
    enqueue_stock_updates,
)
from billhive.workers.control import purge_tenant
from billhive.workers.models import Call

CUSTOMER = "Erika Mustermann"
CUSTOMER_EMAIL = "erika.mustermann@kundin.example"


def _raw_rows(session: Session) -> list[bytes]:
    blobs: list[bytes] = []
    for row in session.execute(text("SELECT * FROM calls")):
        for value in row:
            blobs.append(
                bytes(value) if isinstance(value, bytes | memoryview) else str(value).encode()
            )
    return blobs


def _enqueue_customer_call(session: Session, redis: Redis, vault: Vault, tenant: int) -> Call:
    return enqueue_call(
        tenant,
        "orders.add_tags",
        {"id": 4711},
        body={"Tags": [CUSTOMER, CUSTOMER_EMAIL]},
        session=session,
        redis=redis,
        vault=vault,
    )


def test_the_database_holds_no_plaintext_of_a_calls_parameters_or_body(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    _enqueue_customer_call(db_session, redis_client, vault, tenant)
    enqueue_calls(
        tenant,
        [CallRequest("orders.add_tags", {"id": 1}, {"Tags": [CUSTOMER_EMAIL]})] * 2,
        session=db_session,
        redis=redis_client,
        vault=vault,
    )
    enqueue_stock_updates(
        tenant,
        [StockItem(sku="SKU-ERIKA", quantity=1)],
        session=db_session,
        redis=redis_client,
        vault=vault,
    )
    dump = _raw_rows(db_session)
    for secret in (CUSTOMER, CUSTOMER_EMAIL, "4711"):
        assert not any(secret.encode() in blob for blob in dump), secret


def test_a_sealed_payload_opens_to_what_was_enqueued(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    call = _enqueue_customer_call(db_session, redis_client, vault, make_tenant())
    payload = payload_of(db_session, vault, call)
    assert (payload.params, payload.body, payload.purged) == (
        {"id": 4711},
        {"Tags": [CUSTOMER, CUSTOMER_EMAIL]},
        False,
    )


def test_a_payload_copied_to_another_call_of_the_same_tenant_does_not_open(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    first = _enqueue_customer_call(db_session, redis_client, vault, tenant)
    second = enqueue_call(
        tenant, "orders.list", session=db_session, redis=redis_client, vault=vault
    )
    second.body_sealed = first.body_sealed
    db_session.commit()
    assert payload_of(db_session, vault, second).unreadable


def test_a_payload_moved_to_another_field_does_not_open(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    call = _enqueue_customer_call(db_session, redis_client, vault, make_tenant())
    call.params_sealed = call.body_sealed
    db_session.commit()
    assert payload_of(db_session, vault, call).unreadable


def test_another_tenants_key_cannot_open_a_payload(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    call = _enqueue_customer_call(db_session, redis_client, vault, make_tenant())
    other = payloads.key_for(db_session, vault, make_tenant())
    assert other is not None and call.body_sealed is not None
    with pytest.raises(VaultError):
        other.open(payloads.context(call.id, payloads.BODY), call.body_sealed)


def test_a_deleted_tenants_payloads_are_unreadable_at_once_and_purged_after(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    call = _enqueue_customer_call(db_session, redis_client, vault, tenant)
    delete_tenant(db_session, tenant, actor="test", reason="test")
    assert payload_of(db_session, vault, call).purged  # the data key is shredded
    purge_tenant(db_session, redis_client, tenant)
    stored = db_session.scalars(select(Call).where(Call.id == call.id)).one()
    db_session.refresh(stored)
    assert (stored.params_sealed, stored.body_sealed, stored.result_sealed) == (None, None, None)
    assert stored.payload_purged_at is not None and stored.operation == "orders.add_tags"


def test_showing_the_calls_a_session_enqueued_reads_no_credentials_again(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    call = _enqueue_customer_call(db_session, redis_client, vault, tenant)
    statements: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    engine = db_session.get_bind()
    event.listen(engine, "before_cursor_execute", note)
    try:
        keys = payloads.keys_for(db_session, vault, [tenant])
    finally:
        event.remove(engine, "before_cursor_execute", note)
    assert not [s for s in statements if "tenant_credentials" in s]
    assert payloads.open_call(keys[tenant], call).body == {"Tags": [CUSTOMER, CUSTOMER_EMAIL]}


def test_a_deleted_tenants_key_is_forgotten_by_the_session_that_held_it(
    db_session: Session, redis_client: Redis, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    _enqueue_customer_call(db_session, redis_client, vault, tenant)
    delete_tenant(db_session, tenant, actor="test", reason="test")
    assert payloads.keys_for(db_session, vault, [tenant]) == {}
