"""Retention: payloads of calls finished long enough ago are purged in batches; the calls'
audit fields and the audit log stay."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session
from support.sealed import payload_of, store_payload

from billhive.db import utcnow
from billhive.tenants.audit import record
from billhive.tenants.models import AuditEvent, Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus
from billhive.workers.retention import purge_expired_payloads

RETENTION = timedelta(days=30)


def _finished(session: Session, vault: Vault, tenant: int, days_ago: float | None) -> Call:
    now = utcnow()
    call = Call(
        tenant_id=tenant,
        operation="orders.get",
        status=CallStatus.SUCCEEDED if days_ago is not None else CallStatus.QUEUED,
        finished_at=None if days_ago is None else now - timedelta(days=days_ago),
    )
    session.add(call)
    store_payload(session, vault, call, params={"id": 7}, result={"Name": "Erika"})
    session.commit()
    return call


def test_payloads_older_than_the_retention_are_purged_in_batches_and_the_rest_kept(
    db_session: Session, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    old = [_finished(db_session, vault, tenant, 31 + n) for n in range(5)]
    recent = _finished(db_session, vault, tenant, 29)
    queued = _finished(db_session, vault, tenant, None)
    record(db_session, tenant, actor="test", action="noted", reason="kept")
    db_session.commit()
    audits = db_session.scalar(select(func.count()).select_from(AuditEvent))
    report = purge_expired_payloads(db_session, retention=RETENTION, batch=2)
    assert (report.expired, report.batches) == (5, 3)
    db_session.expire_all()
    for call in old:
        payload = payload_of(db_session, vault, call)
        assert payload.purged and payload.result is None
        assert call.status is CallStatus.SUCCEEDED and call.finished_at is not None
    assert payload_of(db_session, vault, recent).result == {"Name": "Erika"}
    assert payload_of(db_session, vault, queued).params == {"id": 7}
    assert db_session.scalar(select(func.count()).select_from(AuditEvent)) == audits


def test_a_second_run_finds_nothing_left_to_purge(
    db_session: Session, make_tenant: Callable[..., int], vault: Vault
) -> None:
    _finished(db_session, vault, make_tenant(), 40)
    assert purge_expired_payloads(db_session, retention=RETENTION, batch=10).expired == 1
    again = purge_expired_payloads(db_session, retention=RETENTION, batch=10)
    assert (again.expired, again.batches) == (0, 0)


def test_the_calls_of_a_deleted_tenant_are_purged_whatever_their_age(
    db_session: Session, make_tenant: Callable[..., int], vault: Vault
) -> None:
    tenant = make_tenant()
    call = _finished(db_session, vault, tenant, 1)
    found = db_session.get(Tenant, tenant)
    assert found is not None
    found.status = TenantStatus.DELETED
    db_session.commit()
    report = purge_expired_payloads(db_session, retention=RETENTION, batch=10)
    assert report.of_deleted_tenants == 1
    db_session.refresh(call)
    assert call.payload_purged_at is not None and call.result_sealed is None
