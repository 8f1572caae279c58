"""Tenant queues are ordinary RQ queues to RQ's tooling, with pushes through the dispatcher."""

from __future__ import annotations

import pytest
from redis import Redis
from rq import Queue, Retry
from rq.registry import FailedJobRegistry

from billhive.billbee.limits import buckets_for
from billhive.workers.queues import TenantQueue, enqueue_for_tenant, requeue_failed
from billhive.workers.scheduling.dispatcher import Dispatched, Dispatcher
from billhive.workers.scheduling.recovery import sweep_tenant_queues
from billhive.workers.scheduling.scripts import BUCKETS_FIELD

JOB = "billhive.workers.queues.enqueue_for_tenant"  # never run here, only referenced


def test_an_enqueued_job_sits_in_the_tenants_own_rq_queue(redis_client: Redis):
    job = enqueue_for_tenant(redis_client, "42", JOB, args=(7,))
    queue = TenantQueue.for_tenant("42", redis_client)
    assert queue.name == "billhive:t:42"
    assert queue.job_ids == [job.id]


def test_rq_lists_the_tenant_queue_among_all_queues(redis_client: Redis):
    enqueue_for_tenant(redis_client, "42", JOB)
    assert "billhive:t:42" in [q.name for q in Queue.all(connection=redis_client)]


def test_the_job_carries_its_buckets_for_the_dispatcher(redis_client: Redis):
    buckets = buckets_for("orders.get", {"id": 5}, key_id="k1", user_id="42")
    job = enqueue_for_tenant(redis_client, "42", JOB, buckets=buckets)
    stored = redis_client.hget(job.key, BUCKETS_FIELD).decode()
    assert stored.splitlines()[0] == "key:k1\t50\t1.000000\t1"
    assert len(stored.splitlines()) == 4


def test_the_enqueued_tenant_is_ready_for_dispatch(redis_client: Redis):
    job = enqueue_for_tenant(redis_client, "42", JOB)
    decision = Dispatcher(redis_client).pop()
    assert isinstance(decision, Dispatched)
    assert decision.job_id == job.id


def test_job_options_of_rq_are_kept(redis_client: Redis):
    job = enqueue_for_tenant(redis_client, "42", JOB, result_ttl=123, meta={"call_id": 9})
    assert (job.result_ttl, job.meta) == (123, {"call_id": 9})


def test_options_that_would_bypass_the_dispatcher_are_refused(redis_client: Redis):
    with pytest.raises(ValueError, match="depends_on"):
        enqueue_for_tenant(redis_client, "42", JOB, depends_on="other")


def test_a_queue_that_is_no_tenants_pushes_like_plain_rq(redis_client: Redis):
    queue = TenantQueue("billhive:system", connection=redis_client)
    job = queue.enqueue(JOB)
    assert queue.job_ids == [job.id]
    assert redis_client.zcard("billhive:d:ready:interactive") == 0


def test_a_job_pushed_around_the_dispatcher_is_picked_up_by_the_sweep(redis_client: Redis):
    enqueue_for_tenant(redis_client, "42", JOB)
    dispatcher = Dispatcher(redis_client)
    first = dispatcher.pop()
    assert isinstance(first, Dispatched)
    dispatcher.release("42", first.token)
    # `rq requeue` and RQ's scheduler push with a plain Queue: the tenant is not made ready.
    foreign = Queue("billhive:t:42", connection=redis_client).enqueue(JOB)
    assert redis_client.zcard("billhive:d:ready:interactive") == 0
    sweep_tenant_queues(dispatcher, batch=1000)
    decision = dispatcher.pop()
    assert isinstance(decision, Dispatched)
    assert decision.job_id == foreign.id


def _everything_in(redis: Redis) -> bytes:
    dump = []
    for key in redis.scan_iter():
        dump.append(key)
        kind = redis.type(key)
        if kind == b"string":
            dump.append(redis.get(key) or b"")
        elif kind == b"hash":
            dump.extend(b for kv in redis.hgetall(key).items() for b in kv)
        elif kind == b"list":
            dump.extend(redis.lrange(key, 0, -1))
        elif kind == b"set":
            dump.extend(redis.smembers(key))
        elif kind == b"zset":
            dump.extend(redis.zrange(key, 0, -1))
    return b"\n".join(dump)


def test_no_redis_value_holds_a_tenants_username_or_password(redis_client: Redis):
    username, password = "merchant@example.com", "Sup3r-Secret#Pass"
    buckets = buckets_for("orders.get", {"id": 5}, key_id="k1", user_id="42")
    enqueue_for_tenant(redis_client, "42", JOB, args=(101,), buckets=buckets)
    dispatcher = Dispatcher(redis_client)
    decision = dispatcher.pop()
    assert isinstance(decision, Dispatched)
    dispatcher.penalize(buckets[1].key, 1.0)
    everything = _everything_in(redis_client)
    assert b"billhive:t:42" in everything  # the dump does see the scheduler's state
    assert username.encode() not in everything
    assert password.encode() not in everything


def test_a_requeued_failed_job_is_dispatched_again(redis_client: Redis):
    job = enqueue_for_tenant(redis_client, "42", JOB)
    dispatcher = Dispatcher(redis_client)
    first = dispatcher.pop()
    assert isinstance(first, Dispatched)
    queue = TenantQueue.for_tenant("42", redis_client)
    with redis_client.pipeline() as pipe:
        FailedJobRegistry(queue=queue).add(job, ttl=600, exc_string="boom", pipeline=pipe)
        pipe.execute()
    dispatcher.release("42", first.token)
    requeue_failed(redis_client, job.id)
    again = dispatcher.pop()
    assert isinstance(again, Dispatched)
    assert again.job_id == job.id


def test_a_retry_with_an_interval_is_refused_because_it_would_reorder(redis_client: Redis):
    with pytest.raises(ValueError, match=r"Dispatcher\.defer"):
        enqueue_for_tenant(redis_client, "42", JOB, retry=Retry(max=3, interval=5))


def test_a_retry_without_an_interval_is_accepted(redis_client: Redis):
    job = enqueue_for_tenant(redis_client, "42", JOB, retry=Retry(max=3))
    assert job.retries_left == 3
