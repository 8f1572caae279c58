"""What a worker process holds for its jobs: settings, database, vault, Redis, HTTP pool.

Built once per process on first use (jobs take ids and load what they need through it).
In a forked work horse the database pool is dropped, since sockets must not be shared
across a fork. The HTTP connection pool is shared by every tenant's client in the process;
credentials are never cached: each job opens them from the vault and drops them after.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

import httpx
from redis import Redis
from redis.exceptions import RedisError
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import configure_mappers

from billhive.billbee.limits import KEY_PERIOD
from billhive.config import Settings, load_settings
from billhive.db import Database
from billhive.logs import get_logger
from billhive.redisconn import redis_from_settings
from billhive.tenants.vault import Vault
from billhive.workers.outcomes import RetryPolicy
from billhive.workers.scheduling.dispatcher import Dispatcher

log = get_logger(__name__)

#: The latency assumed before the first call was measured (seconds).
INITIAL_LATENCY = 0.2
#: Weight of each new measurement in the moving average of the latency.
LATENCY_WEIGHT = 0.05
#: Most connections the shared HTTP pool keeps; a worker process carries up to
#: BILLHIVE_WORKER_MAX_IN_FLIGHT calls at once.
HTTP_POOL_CONNECTIONS = 200


class SharedTransport(httpx.BaseTransport):
    """One pooled transport for many short-lived clients; closing a client keeps the pool."""

    def __init__(self) -> None:
        limits = httpx.Limits(
            max_connections=HTTP_POOL_CONNECTIONS, max_keepalive_connections=HTTP_POOL_CONNECTIONS
        )
        self._transport = httpx.HTTPTransport(verify=True, retries=0, limits=limits)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        """Send through the shared pool."""
        return self._transport.handle_request(request)

    def close(self) -> None:
        """Clients close their transport when done; the pool outlives them."""

    def shutdown(self) -> None:
        """Close the pool for good (process exit)."""
        self._transport.close()


@dataclass
class Runtime:
    """The per-process resources of the job functions."""

    settings: Settings
    database: Database
    vault: Vault
    redis: Redis
    transport: SharedTransport = field(default_factory=SharedTransport)
    policy: RetryPolicy = field(default_factory=RetryPolicy)
    _dispatcher: Dispatcher | None = field(default=None, init=False, repr=False)
    _outage_until: float = field(default=0.0, init=False, repr=False)
    _outage_backoff: float = field(default=0.0, init=False, repr=False)
    #: Seconds a Billbee call takes here (moving average), before the first: a guess.
    _latency: float = field(default=INITIAL_LATENCY, init=False, repr=False)

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        """Build the resources for ``settings``."""
        return cls(
            settings=settings,
            database=Database(settings.effective_database_url),
            vault=Vault.from_settings(settings),
            redis=redis_from_settings(settings),
            policy=RetryPolicy(
                max_attempts=settings.call_max_attempts,
                attempts_by_operation=settings.call_attempts_by_operation,
            ),
        )

    @property
    def dispatcher(self) -> Dispatcher:
        """The dispatcher on this runtime's Redis (built once: jobs use it on every call)."""
        if self._dispatcher is None:
            self._dispatcher = configured_dispatcher(self.redis, self.settings)
        return self._dispatcher

    def note_database_outage(self) -> float:
        """A job found the database unreachable: the worker pauses before its next job,
        0.5 s at first and doubling up to 10 s while the outage lasts (every job would
        fail the same way, and each would spend a limit slot). Returns the pause."""
        self._outage_backoff = min(max(self._outage_backoff * 2, 0.5), 10.0)
        self._outage_until = time.monotonic() + self._outage_backoff
        return self._outage_backoff

    def note_database_available(self) -> None:
        """A job reached the database: no more pauses."""
        self._outage_backoff = 0.0

    def outage_wait(self) -> float:
        """Seconds the worker should still pause before taking a job (0: none)."""
        return max(0.0, self._outage_until - time.monotonic())

    def note_call_latency(self, seconds: float) -> None:
        """A call to Billbee took ``seconds`` from its send to its answer (or its
        failure): the moving average that sizes the calls kept in flight."""
        self._latency += LATENCY_WEIGHT * (seconds - self._latency)

    def call_latency(self) -> float:
        """Seconds a Billbee call takes here (moving average over the recent calls)."""
        return self._latency

    def close(self) -> None:
        """Release pools (tests, shutdown)."""
        self.database.dispose()
        self.transport.shutdown()
        self.redis.close()


def configured_dispatcher(connection: Redis, settings: Settings) -> Dispatcher:
    """A dispatcher with the settings' allowance, headroom and lead: the workers' pops and
    their jobs' restamps must read the buckets' windows alike. After Redis restarted empty
    (or failed) it holds dispatching for the key's one-second window and the allowance."""
    jitter = settings.dispatch_jitter_ms / 1000
    return Dispatcher(
        connection,
        jitter_allowance=jitter,
        shared_headroom=settings.dispatch_key_headroom,
        lead=settings.dispatch_lead_ms / 1000,
        cold_start_hold=KEY_PERIOD + jitter,
        background_share=settings.background_share,
        bulk_share=settings.bulk_share,
    )


_runtime: Runtime | None = None
_fork_hook_installed = False


def _after_fork_in_child() -> None:
    if _runtime is not None:
        # Keep the parent's pooled connections untouched; open fresh ones in the child.
        _runtime.database.engine.dispose(close=False)
        _runtime.transport = SharedTransport()


def get_runtime() -> Runtime:
    """This process's runtime, built from the settings on first use."""
    global _runtime, _fork_hook_installed  # noqa: PLW0603 - one runtime per process
    if _runtime is None:
        _runtime = Runtime.from_settings(load_settings())
    if not _fork_hook_installed:
        os.register_at_fork(after_in_child=_after_fork_in_child)
        _fork_hook_installed = True
    return _runtime


def warm_up() -> None:
    """Build this process's runtime and open its database and Redis connections now.

    A worker calls it before taking its first job: a cold first job (settings, vault,
    mapper configuration, connections) took 0.25 s on an idle machine and up to 2 s while
    a dozen workers started at once, all of it between the job's dispatch and its send.
    A database or Redis that is not up yet is left for the first job to report.
    """
    rt = get_runtime()
    rt.dispatcher  # noqa: B018 - builds the dispatcher (and hashes its scripts) now
    configure_mappers()
    try:
        with rt.database.session() as session:
            session.execute(select(1))
        rt.redis.ping()
    except (SQLAlchemyError, RedisError) as exc:
        log.warning("worker_warm_up_incomplete", error=type(exc).__name__)


def set_runtime(runtime: Runtime | None) -> None:
    """Install (or clear) this process's runtime; tests use it to point jobs at fixtures."""
    global _runtime  # noqa: PLW0603
    _runtime = runtime
