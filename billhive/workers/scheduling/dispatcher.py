"""The fair, limit-aware dispatcher: which tenant's job may start next.

State lives in Redis only (keys under ``<namespace>:d:``, see docs/scheduling.md), so any
number of worker processes on any number of machines share it. Each tenant has a FIFO of
job ids per lane (interactive, bulk, background), each its own RQ queue list
(``rq:queue:billhive:t:<tenant id>``, ``...:bulk``, ``...:background``), so RQ's tooling
keeps seeing the queues; the dispatcher adds per lane a ready set ordered by a virtual
clock and the tenants waiting for their buckets, the lanes' shares, each tenant's
unfinished writes (the ordering rule), the jobs in flight and the buckets' call logs.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import cast

from redis import Redis
from redis.client import Pipeline
from redis.commands.core import Script

from billhive.billbee.limits import Bucket
from billhive.workers.scheduling import scripts
from billhive.workers.scheduling.buckets import encode_bucket, encode_buckets
from billhive.workers.scheduling.scripts import LANES

INTERACTIVE, BULK, BACKGROUND = LANES
#: The background lane's share of the dispatches while other lanes have work
#: (BILLHIVE_BACKGROUND_SHARE), and the bulk lane's share of the rest while the interactive
#: lane has work (BILLHIVE_BULK_SHARE).
DEFAULT_BACKGROUND_SHARE = 0.10
DEFAULT_BULK_SHARE = 0.25

#: Prefix of every tenant queue's name; RQ stores the list under ``rq:queue:<name>``.
TENANT_QUEUE_PREFIX = "billhive:t:"
RQ_QUEUE_KEY_PREFIX = "rq:queue:"
RQ_JOB_KEY_PREFIX = "rq:job:"

#: Calls kept free in the key-wide bucket (BILLHIVE_DISPATCH_KEY_HEADROOM); none by default.
DEFAULT_SHARED_HEADROOM = 0

#: Tenants tried per pop at most, so one pop costs the same however many are blocked.
DEFAULT_CANDIDATES = 8
#: Seconds added to every bucket's period (BILLHIVE_DISPATCH_JITTER_MS): a call's log entry
#: is stamped when it is sent but it counts at Billbee when it arrives, and that delay
#: varies with load on both sides. 35 ms still leaves 48.3 of the key's 50 calls/s.
DEFAULT_JITTER_ALLOWANCE = 0.035
#: Redis's timer tick at the default ``hz 10``: when blocking pops time out at the latest.
REDIS_TICK = 0.1
#: Waits up to this long sleep in the worker instead of blocking in Redis.
SHORT_WAIT = 0.25


class TenantIdError(ValueError):
    """A tenant id the dispatcher cannot use as part of a Redis key."""


def check_tenant_id(tenant_id: str) -> str:
    """Return ``tenant_id`` if it is usable in keys, else raise naming the problem."""
    if (
        not tenant_id
        or len(tenant_id) > 200
        or not tenant_id.isprintable()
        or " " in tenant_id
        or ":" in tenant_id
    ):
        raise TenantIdError(
            "tenant id must be 1-200 printable characters without spaces or colons, got "
            f"{len(tenant_id)} characters"
        )
    return tenant_id


def check_lane(lane: str) -> str:
    """Return ``lane`` if it is one of :data:`LANES`, else raise naming the lanes."""
    if lane not in LANES:
        raise ValueError(f"lane must be one of {', '.join(LANES)}, not {lane!r}")
    return lane


def tenant_queue_name(tenant_id: str, lane: str = INTERACTIVE) -> str:
    """The RQ queue name of a tenant's lane: ``billhive:t:<tenant id>`` for the interactive
    lane, ``billhive:t:<tenant id>:<lane>`` for the others."""
    name = TENANT_QUEUE_PREFIX + check_tenant_id(tenant_id)
    return name if check_lane(lane) == INTERACTIVE else f"{name}:{lane}"


def lane_of_queue(queue_name: str) -> tuple[str, str] | None:
    """The tenant id and lane a queue name belongs to, or None for no tenant's queue."""
    if not queue_name.startswith(TENANT_QUEUE_PREFIX):
        return None
    tenant, _, lane = queue_name[len(TENANT_QUEUE_PREFIX) :].partition(":")
    if not tenant or (lane and lane not in LANES):
        return None
    return tenant, lane or INTERACTIVE


def tenant_of_queue(queue_name: str) -> str | None:
    """The tenant id a queue name belongs to, or None for a queue that is no tenant's."""
    found = lane_of_queue(queue_name)
    return found[0] if found else None


@dataclass(frozen=True)
class Dispatched:
    """A job that may start now: its buckets were consumed at ``at`` (Redis time, seconds):
    now, or up to the dispatcher's lead later, when its call may be sent.

    ``token`` identifies this dispatch; pass it to :meth:`Dispatcher.release`.
    """

    tenant_id: str
    job_id: str
    token: str
    at: float
    lane: str = INTERACTIVE

    @property
    def queue_name(self) -> str:
        """The RQ queue (tenant and lane) the job was taken from."""
        return tenant_queue_name(self.tenant_id, self.lane)


@dataclass(frozen=True)
class Flight:
    """A job in flight: whose, from which lane, and the token of its dispatch."""

    tenant_id: str
    lane: str
    token: str


@dataclass(frozen=True)
class Order:
    """A job's place in its tenant's order: a read or a write, and its ordering key.

    ``key``: for a write, ``"*"`` (the default) orders it after every earlier write of the
    tenant; a narrower key (``order:123``, ``sku:A-1``) only after earlier writes of that
    key and of the whole tenant. For a read, ``""`` (the default) waits for every earlier
    write of the tenant; a key, for earlier writes of that key and of the whole tenant.
    ``exclusive``: no other job of the tenant's lane starts while it runs (a stock batch
    takes the jobs queued behind it).
    """

    write: bool = True
    key: str = "*"
    exclusive: bool = False

    def __post_init__(self) -> None:
        if any(c in self.key for c in "\t\n\r") or len(self.key) > 200:
            raise ValueError("an ordering key must be at most 200 characters, no tabs or newlines")

    @property
    def kind(self) -> str:
        """``w`` for a write, ``r`` for a read (as the scripts store it)."""
        return "w" if self.write else "r"

    @property
    def stored_key(self) -> str:
        """The key as the scripts keep it (a read's whole-tenant key is empty)."""
        if self.write:
            return self.key or "*"
        return "" if self.key == "*" else self.key


#: A read that waits for every earlier write of its tenant.
READ = Order(write=False, key="")
#: A write ordered after every earlier write of its tenant.
WRITE = Order()


@dataclass(frozen=True)
class Wait:
    """Nothing may start now. ``until`` is the earliest time something may (None: no work).

    ``now`` is Redis time when the decision was made, so ``until - now`` is how long to wait.
    """

    until: float | None
    now: float

    @property
    def seconds(self) -> float | None:
        """How long to wait, or None when no tenant has work."""
        return None if self.until is None else max(0.0, self.until - self.now)


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def scored_members(raw: object) -> list[tuple[str, float]]:
    """A sorted-set reply read ``withscores=True`` as (member text, score) pairs."""
    assert isinstance(raw, list)
    return [(_text(member), float(score)) for member, score in raw]


@dataclass(frozen=True)
class Restamp:
    """What a restamp did: log entries moved, or seconds to wait before sending."""

    moved: int
    wait: float


class Dispatcher:
    """Atomic scheduler operations on one Redis (see docs/scheduling.md).

    ``candidates``: tenants examined per pop at most (bounded work per pop).
    ``jitter_allowance``: seconds added to every bucket's period, so calls that reach
    Billbee with varying delay still fit its windows.
    ``shared_headroom``: calls kept free in every shared (key-wide) bucket: the key's
    window is where all tenants meet, so a call delayed on its way (a busy machine between
    the send-time stamp and the socket) must not make it overflow.
    ``lead``: seconds ahead a job may be dispatched for a slot that is about to free in
    its buckets (its call reserved at that time; :meth:`restamp` says how long to wait),
    so the job's start-up overlaps the end of the previous call's window instead of
    following it: the slots of the key's 50 calls/s are reused as they free.
    ``background_share`` and ``bulk_share``: the lanes' shares of the dispatches (see
    scripts.POP).
    ``cold_start_hold``: seconds every dispatch waits when the pop finds Redis without
    the dispatcher's epoch key (a new or an emptied Redis): Billbee still counts the calls
    of the last window, which the empty bucket logs no longer show (docs/scheduling.md,
    "When Redis loses data"). 0 (the default here) skips it; the workers' dispatcher uses
    the longest one-second window with its allowance.
    The ``now`` argument of the methods replaces Redis ``TIME`` (tests and simulations).
    """

    def __init__(
        self,
        connection: Redis,
        *,
        namespace: str = "billhive",
        candidates: int = DEFAULT_CANDIDATES,
        jitter_allowance: float = DEFAULT_JITTER_ALLOWANCE,
        shared_headroom: int = DEFAULT_SHARED_HEADROOM,
        lead: float = 0.0,
        cold_start_hold: float = 0.0,
        background_share: float = DEFAULT_BACKGROUND_SHARE,
        bulk_share: float = DEFAULT_BULK_SHARE,
    ) -> None:
        if candidates < 1:
            raise ValueError("candidates must be at least 1")
        if jitter_allowance < 0:
            raise ValueError("jitter_allowance must not be negative")
        if shared_headroom < 0:
            raise ValueError("shared_headroom must not be negative")
        if lead < 0:
            raise ValueError("lead must not be negative")
        if cold_start_hold < 0:
            raise ValueError("cold_start_hold must not be negative")
        for name, share in (("background_share", background_share), ("bulk_share", bulk_share)):
            if not 0 < share < 1:
                raise ValueError(f"{name} must lie between 0 and 1 (exclusive)")
        self.connection = connection
        self.prefix = f"{namespace}:d:"
        self.candidates = candidates
        self.jitter_allowance = jitter_allowance
        self.shared_headroom = shared_headroom
        self.lead = lead
        self.cold_start_hold = cold_start_hold
        self.background_share = background_share
        self.bulk_share = bulk_share
        self._push = connection.register_script(scripts.PUSH)
        self._pop = connection.register_script(scripts.POP)
        self._release = connection.register_script(scripts.RELEASE)
        self._requeue_head = connection.register_script(scripts.REQUEUE_HEAD)
        self._discard = connection.register_script(scripts.DISCARD)
        self._followers = connection.register_script(scripts.FOLLOWERS)
        self._set_paused = connection.register_script(scripts.SET_PAUSED)
        self._activate = connection.register_script(scripts.ACTIVATE)
        self._penalize = connection.register_script(scripts.PENALIZE)
        self._defer = connection.register_script(scripts.DEFER)
        self._restamp = connection.register_script(scripts.RESTAMP)
        self._hold = connection.register_script(scripts.HOLD)
        self._remember = connection.register_script(scripts.REMEMBER)

    # -- keys -------------------------------------------------------------------------

    def key(self, name: str) -> str:
        """The Redis key of one of the dispatcher's structures (``ready``, ``running`` ...)."""
        return self.prefix + name

    @property
    def wake_key(self) -> str:
        """The list a waiting worker blocks on; every tenant that becomes ready pushes to it."""
        return self.key("wake")

    def _run(
        self,
        script: Script,
        *args: str | int | float,
        now: float | None = None,
        client: Redis | Pipeline | None = None,
    ) -> object:
        base = [
            self.prefix,
            RQ_QUEUE_KEY_PREFIX + TENANT_QUEUE_PREFIX,
            RQ_JOB_KEY_PREFIX,
            "" if now is None else f"{now:.6f}",
        ]
        if isinstance(client, Pipeline):
            # A registered script in a pipeline costs a SCRIPT EXISTS round trip on every
            # execute (redis-py checks the cache first); EVAL sends the body instead, which
            # Redis hashes and finds in its cache, and can never fail with NOSCRIPT.
            return client.eval(cast(str, script.script), 0, *base, *args)
        return script(keys=[], args=[*base, *args], client=client or self.connection)

    # -- enqueue side -----------------------------------------------------------------

    def set_buckets(
        self, job_id: str, buckets: Iterable[Bucket], *, pipeline: Pipeline | None = None
    ) -> None:
        """Store the buckets a job consumes on its RQ hash (before it is pushed)."""
        client = pipeline if pipeline is not None else self.connection
        client.hset(RQ_JOB_KEY_PREFIX + job_id, scripts.BUCKETS_FIELD, encode_buckets(buckets))

    def push(
        self,
        tenant_id: str,
        job_id: str,
        *,
        lane: str = INTERACTIVE,
        order: Order | None = None,
        at_front: bool = False,
        if_absent: bool = False,
        pipeline: Pipeline | None = None,
        now: float | None = None,
    ) -> None:
        """Add a job id to the tenant's queue of ``lane`` and make the tenant ready.

        ``order`` is the job's place in the tenant's order (None: the one it already has,
        else a write ordered after every earlier one of the tenant: strictly in turn). A
        job in flight (a retry, a requeue) always goes back to the head of the lane it ran
        in. ``if_absent`` (the reconciler's repairs): a job already in the
        queue or in flight stays where it is.
        """
        check_tenant_id(tenant_id)
        check_lane(lane)
        kind, key, exclusive = (
            ("", "", "0")
            if order is None
            else (
                order.kind,
                order.stored_key,
                "1" if order.exclusive else "0",
            )
        )
        self._run(
            self._push,
            tenant_id,
            job_id,
            "1" if at_front else "0",
            "1" if if_absent else "0",
            lane,
            kind,
            key,
            exclusive,
            now=now,
            client=pipeline,
        )

    # -- worker side ------------------------------------------------------------------

    def pop(self, *, now: float | None = None) -> Dispatched | Wait:
        """Take the next job that fits every limit, fairly across tenants (one script)."""
        reply = self._run(
            self._pop,
            self.candidates,
            f"{self.jitter_allowance:.6f}",
            self.shared_headroom,
            f"{self.lead:.6f}",
            f"{self.cold_start_hold:.6f}",
            f"{self.background_share:.6f}",
            f"{self.bulk_share:.6f}",
            now=now,
        )
        assert isinstance(reply, list)
        parts = [_text(p) for p in reply]
        if parts[0] == "go":
            return Dispatched(
                tenant_id=parts[1],
                job_id=parts[2],
                token=parts[3],
                at=float(parts[4]),
                lane=parts[5],
            )
        until = float(parts[1]) if parts[0] == "wait" else None
        return Wait(until=until, now=float(parts[2]))

    def release(self, tenant_id: str, token: str, *, now: float | None = None) -> bool:
        """End a dispatch once its job has ended for good: a write is finished, and the
        jobs waiting for it may start.

        Returns False when this dispatch was already ended (the job was requeued).
        """
        return bool(self._run(self._release, tenant_id, token, now=now))

    def requeue_head(self, tenant_id: str, token: str, *, now: float | None = None) -> bool:
        """Put the in-flight job of ``token`` back at the head of its lane's queue."""
        return bool(self._run(self._requeue_head, tenant_id, token, now=now))

    def followers(self, tenant_id: str, lane: str, job_id: str, limit: int) -> list[str]:
        """The jobs that may join the exclusive job ``job_id`` in flight (a stock batch):
        see scripts.FOLLOWERS. They stay queued until the batch records them."""
        reply = self._run(self._followers, tenant_id, lane, job_id, limit)
        assert isinstance(reply, list)
        return [_text(job) for job in reply]

    def discard(self, tenant_id: str, job_id: str, *, pipeline: Pipeline | None = None) -> None:
        """Take a queued job away for good (cancelled): out of its queue and out of the
        tenant's unfinished writes, so nothing waits for it."""
        self._run(self._discard, check_tenant_id(tenant_id), job_id, client=pipeline)

    def wait_for_work(
        self, seconds: float, extra_keys: Sequence[str] = ()
    ) -> tuple[str, str] | None:
        """Block up to ``seconds`` until a tenant becomes ready or a list in ``extra_keys``
        gets an item. Returns ``(key, item)`` for an item of ``extra_keys``, else None.

        Redis ends a blocking pop's timeout only on its timer tick (100 ms at the default
        ``hz 10``), which would waste up to a tenth of a second of every short wait for a
        bucket; such waits sleep locally instead, longer ones block a tick less.
        """
        if seconds <= SHORT_WAIT:
            time.sleep(max(seconds, 0.0))
            return None
        reply = self.connection.blpop([self.wake_key, *extra_keys], timeout=seconds - REDIS_TICK)
        if reply is None:
            return None
        key, item = (_text(part) for part in reply)
        return None if key == self.wake_key else (key, item)

    # -- control ----------------------------------------------------------------------

    def pause(self, tenant_id: str) -> None:
        """Stop dispatching the tenant's jobs; they stay queued in order."""
        self._run(self._set_paused, check_tenant_id(tenant_id), "1")

    def resume(self, tenant_id: str) -> None:
        """Dispatch the tenant's jobs again."""
        self._run(self._set_paused, check_tenant_id(tenant_id), "0")

    def is_paused(self, tenant_id: str) -> bool:
        """Whether the tenant is paused."""
        return bool(self.connection.sismember(self.key("paused"), tenant_id))

    def activate(self, tenant_id: str, *, pipeline: Pipeline | None = None) -> bool:
        """Make a tenant ready if it has queued work and may run (repairs foreign pushes).

        Returns whether it was added (always False inside a pipeline).
        """
        reply = self._run(self._activate, check_tenant_id(tenant_id), client=pipeline)
        return pipeline is None and bool(reply)

    def forget(self, tenant_id: str) -> None:
        """Drop every trace of a deleted tenant from the scheduler (not its RQ queues)."""
        check_tenant_id(tenant_id)
        keys = [self.key(f"{name}:{tenant_id}") for name in ("w", "wkey", "hs", "ls")]
        ordering_keys = {_text(k) for k in self.connection.hvals(self.key(f"wkey:{tenant_id}"))}
        flights = [job for job, flight in self.flights().items() if flight.tenant_id == tenant_id]
        with self.connection.pipeline() as pipe:
            for lane in LANES:
                pipe.zrem(self.key(f"ready:{lane}"), tenant_id)
                pipe.zrem(self.key(f"delayed:{lane}"), tenant_id)
                pipe.hdel(self.key(f"held:{lane}"), tenant_id)
                pipe.hdel(self.key(f"finish:{lane}"), tenant_id)
                pipe.delete(self.key(f"busy:{tenant_id}:{lane}"))
            for job in flights:
                pipe.hdel(self.key("fl"), job)
                pipe.zrem(self.key("leases"), job)
            pipe.delete(*keys, *(self.key(f"wk:{tenant_id}:{k}") for k in ordering_keys))
            pipe.srem(self.key("paused"), tenant_id)
            pipe.execute()

    def penalize(self, bucket_key: str, seconds: float, *, now: float | None = None) -> float:
        """After a 429: the bucket admits nothing for ``seconds`` (Retry-After).

        Returns the time (Redis clock) until which the bucket is closed.
        """
        if seconds <= 0:
            raise ValueError("a penalty needs a positive number of seconds")
        reply = self._run(self._penalize, bucket_key, f"{seconds:.6f}", now=now)
        assert isinstance(reply, bytes | str)
        return float(_text(reply))

    def defer(self, job_id: str, seconds: float, *, now: float | None = None) -> float:
        """Keep a job from starting for ``seconds`` (a retry's backoff) without giving up
        its place: requeued at its tenant's head (RQ's immediate retry does that), it
        holds its tenant back until then, and only its tenant. Returns that time.
        """
        if seconds <= 0:
            raise ValueError("a deferral needs a positive number of seconds")
        reply = self._run(self._defer, job_id, f"{seconds:.6f}", now=now)
        assert isinstance(reply, bytes | str)
        return float(_text(reply))

    def hold(self, seconds: float, *, now: float | None = None) -> float:
        """Let no call go out for ``seconds`` (a longer hold is kept); returns its end.

        A worker calls it when Redis answers again after failing: writes of the last
        moments before the failure (bucket entries among them) may be gone.
        """
        if seconds <= 0:
            raise ValueError("a hold needs a positive number of seconds")
        reply = self._run(self._hold, f"{seconds:.6f}", now=now)
        assert isinstance(reply, bytes | str)
        return float(_text(reply))

    def remember(
        self, bucket: Bucket, calls: Iterable[tuple[float, str]], *, now: float | None = None
    ) -> int:
        """Put calls made before Redis lost its data (``(time, job id)`` pairs) back into
        ``bucket``'s log; those outside its window or already there are skipped.
        Returns how many were added."""
        pairs = [part for at, job_id in calls for part in (f"{at:.6f}", job_id)]
        if not pairs:
            return 0
        return int(cast(int, self._run(self._remember, encode_bucket(bucket), *pairs, now=now)))

    def restamp(self, job_id: str, *, now: float | None = None) -> Restamp:
        """Record the job's call in its bucket logs at the send time instead of the pop
        time (call it right before sending). If the job holds a slot that has not freed
        yet (reserved by the pop's lead, or because its start-up outlasted a window and a
        new slot had to be reserved), nothing moves and ``wait`` says how long to wait
        before calling again."""
        reply = self._run(
            self._restamp,
            job_id,
            f"{self.jitter_allowance:.6f}",
            self.shared_headroom,
            now=now,
        )
        assert isinstance(reply, list)
        return Restamp(moved=int(reply[0]), wait=float(_text(reply[1])))

    def restamp_when_due(self, job_id: str, *, sleep: Callable[[float], None]) -> int:
        """:meth:`restamp`, waiting out a reserved slot first; returns the entries moved."""
        while True:
            stamped = self.restamp(job_id)
            if stamped.wait <= 0:
                return stamped.moved
            sleep(stamped.wait)

    # -- inspection -------------------------------------------------------------------

    def flights(self) -> dict[str, Flight]:
        """Job id -> its flight, for every job in flight."""
        flights = {}
        for job, raw in self.connection.hgetall(self.key("fl")).items():
            tenant, lane, token = _text(raw).split("\t", 2)
            flights[_text(job)] = Flight(tenant, lane, token)
        return flights

    def leases(self, older_than: float) -> list[tuple[str, float]]:
        """Jobs dispatched before ``older_than`` (Redis time) still in flight."""
        return scored_members(
            self.connection.zrangebyscore(
                self.key("leases"), "-inf", f"{older_than:.6f}", withscores=True
            )
        )

    def ready_count(self) -> int:
        """Tenant lanes that may start a job now or as soon as their buckets free."""
        with self.connection.pipeline(transaction=False) as pipe:
            for lane in LANES:
                pipe.zcard(self.key(f"ready:{lane}"))
                pipe.zcard(self.key(f"delayed:{lane}"))
            return sum(int(n) for n in pipe.execute())

    def redis_time(self) -> float:
        """Redis's clock (the one every script uses), in seconds."""
        seconds, micros = self.connection.time()
        return seconds + micros / 1_000_000


_SHARED: weakref.WeakKeyDictionary[Redis, Dispatcher] = weakref.WeakKeyDictionary()


def shared_dispatcher(connection: Redis) -> Dispatcher:
    """The default-configured dispatcher of ``connection``, built once per client: the
    enqueue path needs one per request, and building one hashes every Lua script."""
    dispatcher = _SHARED.get(connection)
    if dispatcher is None:
        dispatcher = _SHARED[connection] = Dispatcher(connection)
    return dispatcher
