"""No job argument and no Redis value ever holds a merchant's password or username."""

from collections.abc import Callable

from redis import Redis
from rq.job import Job
from support.workers import PASSWORD, account_username, work

from billhive.workers.calls import StockItem, enqueue_call, enqueue_stock_updates
from billhive.workers.runtime import Runtime


def _every_redis_value(redis: Redis) -> bytes:
    dump = bytearray()
    for key in redis.scan_iter(count=1000):
        dump += key
        kind = redis.type(key)
        if kind == b"string":
            dump += redis.get(key) or b""
        elif kind == b"hash":
            for field, value in redis.hgetall(key).items():
                dump += field + value
        elif kind == b"list":
            dump += b"".join(redis.lrange(key, 0, -1))
        elif kind == b"set":
            dump += b"".join(redis.smembers(key))
        elif kind == b"zset":
            dump += b"".join(m for m, _ in redis.zrange(key, 0, -1, withscores=True))
        elif kind == b"stream":
            for _, fields in redis.xrange(key):
                for field, value in fields.items():
                    dump += field + value
    return bytes(dump)


def test_jobs_and_redis_hold_no_credentials_before_and_after_work(
    runtime: Runtime, signed_up: Callable[[int], int]
) -> None:
    tenant = signed_up(1)
    with runtime.database.session() as session:
        calls = [
            enqueue_call(
                tenant,
                "orders.list",
                {"page": 1},
                session=session,
                redis=runtime.redis,
                vault=runtime.vault,
            ),
            *enqueue_stock_updates(
                tenant,
                [StockItem(sku="BH-001-001", quantity=4)],
                session=session,
                redis=runtime.redis,
                vault=runtime.vault,
            ),
        ]
    for call in calls:
        job = Job.fetch(call.job_id, connection=runtime.redis)
        assert job.args == (call.id,) and not job.kwargs
    secrets = (PASSWORD.encode(), account_username(1).encode())
    before = _every_redis_value(runtime.redis)
    work(runtime)
    after = _every_redis_value(runtime.redis)
    for secret in secrets:
        assert secret not in before
        assert secret not in after
