"""Recovery of in-flight jobs whose worker vanished, in each state the worker may have left."""

from __future__ import annotations

import time

import pytest
from redis import Redis
from rq.job import Job, JobStatus
from rq.registry import FailedJobRegistry, StartedJobRegistry

from billhive.workers.queues import TenantQueue, enqueue_for_tenant
from billhive.workers.scheduling.dispatcher import Dispatched, Dispatcher
from billhive.workers.scheduling.recovery import recover_abandoned

JOB = "billhive.workers.queues.enqueue_for_tenant"  # never run here


@pytest.fixture
def dispatcher(redis_client: Redis) -> Dispatcher:
    return Dispatcher(redis_client)


def dispatch_first(redis: Redis, dispatcher: Dispatcher) -> tuple[Job, Job]:
    """Enqueue two jobs for tenant 42 and dispatch the first."""
    first = enqueue_for_tenant(redis, "42", JOB)
    second = enqueue_for_tenant(redis, "42", JOB)
    decision = dispatcher.pop()
    assert isinstance(decision, Dispatched)
    assert decision.job_id == first.id
    return first, second


def mark_started(redis: Redis, job: Job, deadline: float) -> None:
    """What RQ's worker records when it starts a job, with a heartbeat deadline."""
    job.set_status(JobStatus.STARTED)
    redis.zadd("rq:wip:billhive:t:42", {f"{job.id}:exec1": deadline})


def queued_ids(redis: Redis) -> list[str]:
    return TenantQueue.for_tenant("42", redis).job_ids


def test_a_job_popped_but_never_started_goes_back_to_the_head(redis_client, dispatcher):
    first, second = dispatch_first(redis_client, dispatcher)
    recovered = recover_abandoned(dispatcher, grace=0.0)
    assert [(r.job_id, r.action) for r in recovered] == [(first.id, "requeued")]
    assert queued_ids(redis_client) == [first.id, second.id]


def test_a_recent_dispatch_is_left_alone(redis_client, dispatcher):
    dispatch_first(redis_client, dispatcher)
    assert recover_abandoned(dispatcher, grace=60.0) == []
    assert [f.tenant_id for f in dispatcher.flights().values()] == ["42"]


def test_a_started_job_with_a_live_heartbeat_is_left_alone(redis_client, dispatcher):
    first, _ = dispatch_first(redis_client, dispatcher)
    mark_started(redis_client, first, time.time() + 100)
    assert recover_abandoned(dispatcher, grace=0.0) == []


def test_a_started_job_whose_heartbeat_expired_is_queued_again_at_the_head(
    redis_client, dispatcher
):
    first, second = dispatch_first(redis_client, dispatcher)
    mark_started(redis_client, first, time.time() - 1)
    recover_abandoned(dispatcher, grace=0.0)
    assert first.get_status(refresh=True) == JobStatus.QUEUED
    assert queued_ids(redis_client) == [first.id, second.id]
    assert redis_client.zcard("rq:wip:billhive:t:42") == 0


def test_a_job_rqs_cleanup_failed_as_abandoned_is_queued_again_at_the_head(
    redis_client, dispatcher
):
    first, second = dispatch_first(redis_client, dispatcher)
    mark_started(redis_client, first, time.time() - 1)
    queue = TenantQueue.for_tenant("42", redis_client)
    StartedJobRegistry(queue=queue).cleanup()  # what `rq info` may trigger first
    assert first.get_status(refresh=True) == JobStatus.FAILED
    recover_abandoned(dispatcher, grace=0.0)
    assert queued_ids(redis_client) == [first.id, second.id]
    assert first.id not in FailedJobRegistry(queue=queue).get_job_ids()


def test_a_job_that_finished_before_its_worker_died_just_frees_the_tenant(redis_client, dispatcher):
    first, second = dispatch_first(redis_client, dispatcher)
    first.set_status(JobStatus.FINISHED)
    recovered = recover_abandoned(dispatcher, grace=0.0)
    assert [r.action for r in recovered] == ["released"]
    decision = dispatcher.pop()
    assert isinstance(decision, Dispatched)
    assert decision.job_id == second.id


def test_only_one_recovery_runs_at_a_time(redis_client, dispatcher):
    dispatch_first(redis_client, dispatcher)
    redis_client.set(dispatcher.key("recovery-lock"), "1")
    assert recover_abandoned(dispatcher, grace=0.0) == []
