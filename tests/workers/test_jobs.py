"""Calls run end to end: enqueue, a real worker, the sandbox over HTTP, recorded outcomes."""

import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import event, select
from support.sealed import payload_of
from support.workers import API_KEY, PASSWORD, account_username, work

from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers import jobs
from billhive.workers.calls import enqueue_call
from billhive.workers.control import queue_depth
from billhive.workers.models import Call, CallStatus, UsageDay
from billhive.workers.runtime import Runtime
from billhive.workers.scheduling.dispatcher import Dispatcher


def _call(runtime: Runtime, call_id: int) -> Call:
    with runtime.database.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        return call


def _enqueue(
    runtime: Runtime,
    tenant_id: int,
    operation: str,
    params: dict | None = None,
    body: object = None,
) -> int:
    with runtime.database.session() as session:
        return enqueue_call(
            tenant_id,
            operation,
            params,
            body=body,
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        ).id


def test_a_call_runs_with_the_tenants_credentials_and_records_its_result(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    call_id = _enqueue(runtime, tenant, "orders.list", {"page": 1, "pageSize": 2})
    work(runtime)
    call = _call(runtime, call_id)
    assert call.status is CallStatus.SUCCEEDED
    assert (call.http_status, call.attempts) == (200, 1)
    with runtime.database.session() as session:
        result = payload_of(session, runtime.vault, call).result
    assert isinstance(result, list) and len(result) == 2
    assert call.started_at is not None and call.finished_at is not None


def test_each_billbee_call_is_counted_on_the_tenants_day(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    for _ in range(3):
        _enqueue(runtime, tenant, "orders.list", {"page": 1})
    work(runtime)
    with runtime.database.session() as session:
        usage = session.scalars(select(UsageDay).where(UsageDay.tenant_id == tenant)).one()
    # The signup's verification call used the same endpoint budget in the sandbox, so one of
    # the three may have met a 429 and gone again: that is a Billbee call too.
    assert usage.calls - usage.throttled == 3


def test_calls_of_one_tenant_start_in_the_order_they_were_enqueued(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    ids = [_enqueue(runtime, tenant, "orders.get", {"id": 1000 + n}) for n in range(6)]
    work(runtime)
    starts = [_call(runtime, i).started_at for i in ids]
    assert starts == sorted(starts)  # type: ignore[type-var]


def test_a_non_zero_error_code_fails_the_call_with_its_name(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(2)  # the sandbox account does not allow invoice creation ...
    with runtime.database.session() as session:
        stored = session.get(Tenant, tenant)
        assert stored is not None
        stored.invoice_creation_allowed = True  # ... though the merchant said it does
        session.commit()
    order_id = _first_order_id(runtime, 2)
    call_id = _enqueue(runtime, tenant, "orders.create_invoice", {"id": order_id})
    work(runtime)
    call = _call(runtime, call_id)
    assert call.status is CallStatus.FAILED
    assert call.error_name is not None and call.error_code not in (None, 0)


def test_server_errors_are_retried_then_fail_after_the_last_attempt(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(3)
    _faults(sandbox, 3, {"error_rate": 1.0})
    call_id = _enqueue(runtime, tenant, "orders.list", {"page": 1})
    work(runtime)
    call = _call(runtime, call_id)
    assert call.status is CallStatus.FAILED
    assert call.attempts == 3 and call.http_status == 500


def test_a_non_idempotent_write_with_a_server_error_has_an_unknown_outcome(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(3)
    order_id = _first_order_id(runtime, 3)
    _faults(sandbox, 3, {"error_rate": 1.0})
    call_id = _enqueue(
        runtime,
        tenant,
        "orders.add_shipment",
        {"id": order_id},
        body={"ShippingId": "X1", "ShippingProviderId": 1},
    )
    work(runtime)
    call = _call(runtime, call_id)
    assert call.status is CallStatus.UNKNOWN_OUTCOME and call.attempts == 1


def test_rejected_credentials_pause_the_tenant_and_keep_its_calls(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(4)
    httpx.patch(f"{sandbox.url}/api/v1/_sandbox/accounts/4", json={"password": "N3w!Passw0rd#x"})  # type: ignore[attr-defined]
    first = _enqueue(runtime, tenant, "orders.list", {"page": 1})
    second = _enqueue(runtime, tenant, "orders.list", {"page": 2})
    work(runtime)
    with runtime.database.session() as session:
        assert session.get(Tenant, tenant).status is TenantStatus.CREDENTIALS_INVALID  # type: ignore[union-attr]
    assert Dispatcher(runtime.redis).is_paused(str(tenant))
    assert _call(runtime, first).status is CallStatus.QUEUED
    assert _call(runtime, second).status is CallStatus.QUEUED
    assert queue_depth(runtime.redis, tenant) == 2


def test_a_throttled_call_waits_and_then_succeeds(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(5)
    # Someone else uses the same merchant's endpoint budget behind billhive's back.
    auth = (account_username(5), PASSWORD)
    headers = {"X-Billbee-Api-Key": API_KEY}
    for _ in range(2):
        httpx.get(f"{sandbox.url}/api/v1/orders", params={"page": 1}, auth=auth, headers=headers)  # type: ignore[attr-defined]
    call_id = _enqueue(runtime, tenant, "orders.list", {"page": 1})
    work(runtime)
    call = _call(runtime, call_id)
    assert call.status is CallStatus.SUCCEEDED
    with runtime.database.session() as session:
        usage = session.scalars(select(UsageDay).where(UsageDay.tenant_id == tenant)).one()
    assert usage.throttled >= 1 and usage.calls >= 2


def test_after_a_429_no_request_of_the_tenant_goes_out_before_retry_after_has_passed(
    runtime: Runtime,
    signed_up: Callable[[int], int],
    sandbox: object,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # The penalty must land on this merchant's bucket: a penalty on the wrong bucket (or
    # none) lets the next call go out early, and the call still succeeds in the end, so
    # only the send times can tell.
    tenant = signed_up(5)
    sent: list[tuple[float, float, int, str | None]] = []
    forward = runtime.transport.handle_request

    def recording(request: httpx.Request) -> httpx.Response:
        started = time.monotonic()
        response = forward(request)
        sent.append(
            (started, time.monotonic(), response.status_code, response.headers.get("Retry-After"))
        )
        return response

    monkeypatch.setattr(runtime.transport, "handle_request", recording)
    auth = (account_username(5), PASSWORD)
    headers = {"X-Billbee-Api-Key": API_KEY}
    for _ in range(2):
        httpx.get(f"{sandbox.url}/api/v1/orders", params={"page": 1}, auth=auth, headers=headers)  # type: ignore[attr-defined]
    ids = [_enqueue(runtime, tenant, "orders.list", {"page": page}) for page in (1, 2, 3)]
    work(runtime)
    assert {_call(runtime, call_id).status for call_id in ids} == {CallStatus.SUCCEEDED}
    throttled = [
        (answered, float(after)) for _, answered, status, after in sent if status == 429 and after
    ]
    assert throttled, "the sandbox never answered 429: the test did not exercise the penalty"
    answered, retry_after = throttled[0]
    later = [started for started, _, _, _ in sent if started > answered]
    assert later, "no request after the 429"
    assert min(later) >= answered + retry_after - 0.05, (
        f"a request went out {min(later) - answered:.3f}s after a 429 asking for {retry_after}s"
    )


def _faults(sandbox: object, account: int, spec: dict) -> None:
    response = httpx.put(f"{sandbox.url}/api/v1/_sandbox/accounts/{account}/faults", json=spec)  # type: ignore[attr-defined]
    assert response.status_code == 200, response.text


def _first_order_id(runtime: Runtime, account: int) -> int:
    response = httpx.get(
        f"{runtime.settings.billbee_base_url}/orders",
        params={"page": 1, "pageSize": 1},
        auth=(account_username(account), PASSWORD),
        headers={"X-Billbee-Api-Key": API_KEY},
    )
    return int(response.json()["Data"][0]["BillBeeOrderId"])


def test_calls_of_a_pending_tenant_wait_and_run_once_it_is_verified(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    from billhive.tenants.verify import make_verifier
    from billhive.workers.verification import run_verification

    tenant = signed_up(6)
    with runtime.database.session() as session:
        row = session.get(Tenant, tenant)
        assert row is not None
        row.status = TenantStatus.PENDING_VERIFICATION
    call_id = _enqueue(runtime, tenant, "orders.list", {"page": 1})
    work(runtime)
    assert _call(runtime, call_id).status is CallStatus.QUEUED
    assert Dispatcher(runtime.redis).is_paused(str(tenant))
    assert (
        run_verification(runtime.settings, tenant, verify=make_verifier(runtime.settings))
        == "active"
    )
    work(runtime)
    assert _call(runtime, call_id).status is CallStatus.SUCCEEDED


def test_a_call_is_sent_after_one_read_and_one_write_of_the_database(
    runtime: Runtime, signed_up: Callable[[int], int], monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant = signed_up(1)
    work(runtime)  # the signup's verification, out of the way
    call_id = _enqueue(runtime, tenant, "orders.list", {"page": 1})
    statements: list[str] = []
    before_send: list[str] = []
    real_send = jobs.send

    def send_noting_statements(*args: Any, **kwargs: Any) -> Any:
        before_send.extend(statements)
        return real_send(*args, **kwargs)

    monkeypatch.setattr(jobs, "send", send_noting_statements)

    def note(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement.split(maxsplit=1)[0].upper())

    event.listen(runtime.database.engine, "before_cursor_execute", note)
    try:
        work(runtime)
    finally:
        event.remove(runtime.database.engine, "before_cursor_execute", note)
    assert _call(runtime, call_id).status is CallStatus.SUCCEEDED
    # The call, its tenant and the sealed credentials in one SELECT; "running" in one UPDATE.
    assert before_send == ["SELECT", "UPDATE"]
