"""The ordering rule, checked concurrently against the real dispatcher.

Random reads and writes, with and without ordering keys, in every lane, for many tenants,
are pushed by one thread while several worker threads pop, "run" (a random sleep) and
release them against a real Redis. Every start and finish takes a number from one global
counter (a start after the pop returned, a finish before the release), so "A finished
before B started" is exact. The check (docs/scheduling.md, "Order within a tenant"):

* no write started before an earlier write of its key, or an earlier whole-tenant write,
  finished; a whole-tenant write, before any earlier write finished;
* no read started before an earlier write of its tenant finished (with a key: of its key
  or of the whole tenant);
* every call ran exactly once.

    .venv/bin/python benchmarks/ordering_checker.py [--ops 100000] [--tenants 100]
        [--workers 8] [--keys 5] [--seed 1] [--redis-url URL]

Prints one JSON document; ``ok`` is true when nothing was violated.
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import tempfile
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from redis import Redis

from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.workers.scheduling.dispatcher import (
    RQ_JOB_KEY_PREFIX,
    Dispatched,
    Dispatcher,
    Order,
)
from billhive.workers.scheduling.scripts import BUCKETS_FIELD, LANES


@dataclass
class Op:
    """One call of the run."""

    tenant: str
    index: int
    write: bool
    key: str  # a write: "*" or a key; a read: "" or a key
    lane: str
    start: int = -1
    finish: int = -1
    runs: int = 0

    @property
    def job(self) -> str:
        return f"{self.tenant}-{self.index}"

    def order(self) -> Order:
        return Order(write=self.write, key=self.key)


@dataclass
class Run:
    """The shared state of the threads."""

    ops: dict[str, Op]
    ticks: itertools.count[int] = field(default_factory=itertools.count)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: int = 0

    def tick(self) -> int:
        with self.lock:
            return next(self.ticks)


def make_ops(rng: random.Random, count: int, tenants: int, keys: int) -> list[Op]:
    per_tenant: dict[str, int] = defaultdict(int)
    ops = []
    for _ in range(count):
        tenant = f"t{rng.randrange(tenants)}"
        write = rng.random() < 0.5
        if write:
            key = "*" if rng.random() < 0.3 else f"k{rng.randrange(keys)}"
        else:
            key = "" if rng.random() < 0.5 else f"k{rng.randrange(keys)}"
        ops.append(Op(tenant, per_tenant[tenant], write, key, rng.choice(LANES)))
        per_tenant[tenant] += 1
    return ops


def produce(redis: Redis, dispatcher: Dispatcher, ops: list[Op]) -> None:
    """Push every op, in the generated order (each tenant's in its index order)."""
    for start in range(0, len(ops), 200):
        with redis.pipeline(transaction=False) as pipe:
            for op in ops[start : start + 200]:
                pipe.hset(RQ_JOB_KEY_PREFIX + op.job, BUCKETS_FIELD, "")
                dispatcher.push(op.tenant, op.job, lane=op.lane, order=op.order(), pipeline=pipe)
            pipe.execute()


def work(redis_url: str, run: Run, seed: int) -> None:
    """Pop, run for a random moment, release, until every op ran."""
    rng = random.Random(seed)
    redis = Redis.from_url(redis_url)
    dispatcher = Dispatcher(redis, jitter_allowance=0.0)
    total = len(run.ops)
    while True:
        with run.lock:
            if run.done >= total:
                break
        decision = dispatcher.pop()
        if not isinstance(decision, Dispatched):
            time.sleep(0.0005)
            continue
        op = run.ops[decision.job_id]
        op.start = run.tick()
        op.runs += 1
        if rng.random() < 0.3:
            time.sleep(rng.random() * 0.002)
        op.finish = run.tick()
        dispatcher.release(decision.tenant_id, decision.token)
        with run.lock:
            run.done += 1
    redis.close()


def check(ops: list[Op]) -> dict[str, int]:
    """Count the violations of the rule (see the module docstring)."""
    writes_before_writes = reads_before_writes = 0
    by_tenant: dict[str, list[Op]] = defaultdict(list)
    for op in ops:
        by_tenant[op.tenant].append(op)
    for tenant_ops in by_tenant.values():
        any_write = -1  # latest finish of an earlier write of the tenant
        whole = -1  # ... of an earlier whole-tenant write
        per_key: dict[str, int] = defaultdict(lambda: -1)
        for op in sorted(tenant_ops, key=lambda o: o.index):
            if op.write:
                must_follow = any_write if op.key == "*" else max(whole, per_key[op.key])
                writes_before_writes += op.start < must_follow
                any_write = max(any_write, op.finish)
                if op.key == "*":
                    whole = max(whole, op.finish)
                else:
                    per_key[op.key] = max(per_key[op.key], op.finish)
            else:
                must_follow = any_write if op.key == "" else max(whole, per_key[op.key])
                reads_before_writes += op.start < must_follow
    return {
        "writes_started_before_an_earlier_write_of_their_key_finished": writes_before_writes,
        "reads_started_before_an_earlier_write_finished": reads_before_writes,
        "calls_not_run_exactly_once": sum(1 for op in ops if op.runs != 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ops", type=int, default=100_000)
    parser.add_argument("--tenants", type=int, default=100)
    parser.add_argument("--workers", type=int, default=8)
    parser.add_argument("--keys", type=int, default=5)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--redis-url", default=None, help="default: an embedded redis-server")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        server = None if args.redis_url else EmbeddedRedis(Path(tmp)).start()
        url = args.redis_url or (server.url if server else "")
        try:
            result = run_check(url, args)
        finally:
            if server is not None:
                server.stop()
    print(json.dumps(result, indent=2))


def run_check(url: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(args.seed)
    ops = make_ops(rng, args.ops, args.tenants, args.keys)
    redis = Redis.from_url(url)
    redis.set("billhive:d:epoch", "0")  # a Redis the dispatcher used before: no cold hold
    run = Run({op.job: op for op in ops})
    started = time.monotonic()
    workers = [
        threading.Thread(target=work, args=(url, run, args.seed + n), daemon=True)
        for n in range(args.workers)
    ]
    for thread in workers:
        thread.start()
    produce(redis, Dispatcher(redis), ops)
    for thread in workers:
        thread.join()
    seconds = time.monotonic() - started
    violations = check(ops)
    redis.close()
    return {
        "ops": len(ops),
        "tenants": args.tenants,
        "workers": args.workers,
        "reads": sum(1 for op in ops if not op.write),
        "keyed": sum(1 for op in ops if op.key not in ("", "*")),
        "per_lane": {lane: sum(1 for op in ops if op.lane == lane) for lane in LANES},
        "seconds": round(seconds, 1),
        "ops_per_second": round(len(ops) / seconds),
        **violations,
        "ok": not any(violations.values()),
    }


if __name__ == "__main__":
    main()
