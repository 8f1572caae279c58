"""A call found running when its job starts: an attempt that never recorded its end."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session
from support.workers import API_KEY, PASSWORD, account_username

from billhive.billbee.client import BillbeeClient
from billhive.db import utcnow
from billhive.workers import jobs
from billhive.workers.calls import cancel_call, enqueue_call
from billhive.workers.jobs import CallDeferred, claim, start_call
from billhive.workers.models import Call, CallStatus
from billhive.workers.runtime import Runtime


def _interrupted(runtime: Runtime, call_id: int, *, seconds_ago: float) -> None:
    """Leave the call as a worker killed mid-attempt leaves it."""
    with runtime.database.session() as session:
        session.execute(
            update(Call)
            .where(Call.id == call_id)
            .values(
                status=CallStatus.RUNNING,
                attempts=1,
                attempt_started_at=utcnow() - timedelta(seconds=seconds_ago),
            )
        )


def _call(runtime: Runtime, call_id: int) -> Call:
    with runtime.database.session() as session:
        call = session.get(Call, call_id)
        assert call is not None
        return call


def _accepted(sandbox: object) -> int:
    stats = httpx.get(f"{sandbox.url}/api/v1/_sandbox/stats").json()  # type: ignore[attr-defined]
    return int(stats["total"]["accepted"])


def _customers_named(sandbox: object, n: int, email: str) -> int:
    base = f"{sandbox.url}/api/v1"  # type: ignore[attr-defined]
    with BillbeeClient(API_KEY, account_username(n), PASSWORD, base_url=base) as client:
        found = client.call("customers.list", {"page": 1, "pageSize": 250}).data
    return sum(1 for customer in found if customer.get("Email") == email)


def test_a_call_whose_earlier_attempt_may_still_run_waits_and_is_not_sent(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        call = enqueue_call(
            tenant,
            "orders.get",
            {"id": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )
    _interrupted(runtime, call.id, seconds_ago=1)
    before = _accepted(sandbox)
    with pytest.raises(CallDeferred, match="may still be running"):
        jobs.run_call(call.id)
    assert _accepted(sandbox) == before
    assert _call(runtime, call.id).status is CallStatus.RUNNING
    assert runtime.redis.hget(f"rq:job:{call.job_id}", "billhive_not_before") is not None


def test_an_idempotent_call_whose_attempt_lease_ended_is_sent_again(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        call = enqueue_call(
            tenant,
            "orders.list",
            {"page": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )
    _interrupted(runtime, call.id, seconds_ago=runtime.settings.call_lease_seconds + 1)
    jobs.run_call(call.id)
    done = _call(runtime, call.id)
    assert (done.status, done.attempts) == (CallStatus.SUCCEEDED, 2)


def test_a_non_idempotent_call_whose_attempt_was_interrupted_is_never_sent_again(
    runtime: Runtime, signed_up: Callable[[int], int], sandbox: object
) -> None:
    tenant = signed_up(1)
    email = "interrupted@example.com"
    with runtime.database.session() as session:
        call = enqueue_call(
            tenant,
            "customers.create",
            body={"Name": "Once", "Email": email},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )
    _interrupted(runtime, call.id, seconds_ago=runtime.settings.call_lease_seconds + 1)
    assert jobs.run_call(call.id) == {"call_id": call.id, "status": "skipped"}
    done = _call(runtime, call.id)
    assert done.status is CallStatus.UNKNOWN_OUTCOME
    assert "may have reached Billbee" in (done.error or "")
    assert _customers_named(sandbox, 1, email) == 0


def test_two_workers_cannot_both_claim_one_queued_call(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        call = enqueue_call(
            tenant,
            "orders.get",
            {"id": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )
    first: Session = runtime.database.sessionmaker()
    second: Session = runtime.database.sessionmaker()
    try:
        assert start_call(runtime, first, call.id) is not None
        assert start_call(runtime, second, call.id) is not None
        assert claim(first)
        assert not claim(second)
    finally:
        first.close()
        second.close()
    assert _call(runtime, call.id).attempts == 1


def test_a_call_cancelled_while_its_job_starts_is_not_claimed(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        call = enqueue_call(
            tenant,
            "orders.get",
            {"id": 1},
            session=session,
            redis=runtime.redis,
            vault=runtime.vault,
        )
    worker: Session = runtime.database.sessionmaker()
    try:
        assert start_call(runtime, worker, call.id) is not None
        with runtime.database.session() as operator:
            assert cancel_call(call.id, session=operator, redis=runtime.redis)
        assert not claim(worker)
    finally:
        worker.close()
    assert _call(runtime, call.id).status is CallStatus.CANCELLED
