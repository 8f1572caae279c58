"""RQ workers that take tenant jobs from the dispatcher instead of a fixed list of queues.

Upstream RQ workers listen to the queues named at start-up (rq issue #2124), so a new
tenant's queue would need a restart. These workers replace one step of RQ's loop, the
dequeue (``dequeue_job_and_maintain_ttl``): they ask the dispatcher for the next job of
*any* tenant, then run it exactly as RQ does (started registry, heartbeats, results,
retries, failure handling). Plain queues given at start-up (the system queue) are served
before tenant jobs. When nothing may start, the worker blocks on the
dispatcher's wake-up list (and the plain queues) until the next bucket frees, never
spinning.
"""

from __future__ import annotations

import gc
import os
import signal
import time
from collections.abc import Sequence
from types import FrameType
from typing import Any

import redis.exceptions
from rq import Queue, SimpleWorker, Worker
from rq.exceptions import NoSuchJobError
from rq.job import Job
from rq.utils import now as rq_now
from rq.worker import WorkerStatus

from billhive.workers.queues import TenantJob, TenantQueue
from billhive.workers.scheduling.dispatcher import Dispatched, Dispatcher
from billhive.workers.scheduling.recovery import recover_abandoned, sweep_tenant_queues

#: Seconds between the heartbeats a waiting worker sends.
HEARTBEAT_EVERY = 1.0
#: Longest wait between attempts to reach Redis again: the dispatcher must be back within
#: seconds of Redis, well inside the reconciler's detection bound.
REDIS_RETRY_MAX_SECONDS = 5.0


class DispatchingMixin:
    """The dispatcher-driven dequeue, for any RQ worker class (see module docstring).

    The fixed queues given at start-up are served first, tenant jobs whenever those are
    empty.

    Options: ``dispatcher`` (default: one on the worker's connection), ``heartbeat_grace``
    (seconds RQ waits past a missed heartbeat before a job counts as abandoned; RQ's own
    is 60), ``lease_grace`` (seconds before an unreleased dispatch is examined),
    ``recovery_interval`` (seconds between looks for abandoned jobs and sweeps) and
    ``sweep_batch`` (tenant queues tidied per sweep, see recovery.sweep_tenant_queues).
    Jobs are loaded as :class:`~billhive.workers.queues.TenantJob` (their limit buckets
    survive RQ's saves) unless another job class is given.

    When Redis fails and answers again, the worker holds every dispatch for
    ``outage_hold`` seconds (the dispatcher's ``cold_start_hold`` by default): the writes
    of its last moments may be lost, bucket entries among them.
    """

    connection: Any
    queues: list[Queue]
    job_class: type[Job]
    serializer: Any
    dequeue_timeout: int
    job_monitoring_interval: int
    log: Any
    name: str
    last_heartbeat: Any
    _stop_requested: bool
    _starting_pid: int

    def __init__(
        self,
        queues: Sequence[Queue | str] = (),
        *args: Any,
        dispatcher: Dispatcher | None = None,
        heartbeat_grace: int = 60,
        lease_grace: float = 60.0,
        recovery_interval: float = 10.0,
        sweep_batch: int = 200,
        outage_hold: float | None = None,
        **kwargs: Any,
    ) -> None:
        if kwargs.get("job_class") in (None, Job):
            kwargs["job_class"] = TenantJob
        super().__init__(list(queues), *args, **kwargs)  # type: ignore[call-arg]
        self.dispatcher = dispatcher or Dispatcher(self.connection)
        self.outage_hold = self.dispatcher.cold_start_hold if outage_hold is None else outage_hold
        self._redis_failed = False
        self.heartbeat_grace = heartbeat_grace
        self.lease_grace = lease_grace
        self.recovery_interval = recovery_interval
        self.sweep_batch = sweep_batch
        self._tokens: dict[str, tuple[str, str]] = {}
        self._next_recovery = 0.0

    # -- RQ hooks ---------------------------------------------------------------------

    def bootstrap(self, *args: Any, **kwargs: Any) -> None:
        """RQ's start-up, with SIGTERM and SIGINT deferred until the work loop runs, then
        the start-up heap frozen.

        RQ installs its stop handlers only after registering the worker and starting its
        scheduler; a stop asked for in that window (a deploy, a supervisor) killed the
        process by the default action instead of ending it cleanly.
        """
        self._starting_pid = os.getpid()
        signal.signal(signal.SIGTERM, self._stop_before_loop)
        signal.signal(signal.SIGINT, self._stop_before_loop)
        super().bootstrap(*args, **kwargs)  # type: ignore[misc]
        self.prepare()
        # The modules and objects loaded so far live as long as the worker: keep them out
        # of the cyclic garbage collector, whose full passes over them (~50 ms here) could
        # stall a worker between taking a job and sending its call.
        gc.freeze()

    def prepare(self) -> None:
        """Make the jobs' resources ready before the first dequeue (override it).

        A job is dispatched with its slot in every bucket taken; whatever the job must still
        set up before it can send (connections, first-use work) delays the send, and the
        slot's window runs meanwhile. Nothing here by default.
        """

    def _stop_before_loop(self, signum: int, frame: FrameType | None) -> None:
        if os.getpid() != self._starting_pid:
            # A process forked meanwhile (RQ's scheduler) inherits this handler until it
            # installs its own; a stop sent to it in between must end it, as it would have
            # without the handler, or the worker waits for it for ever.
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        # The loop checks this flag before its first dequeue, so no job is taken.
        self._stop_requested = True

    def maintain_in_flight(self) -> None:
        """Keep the jobs this worker runs alive in RQ's registries while it waits for the
        next (override it; a worker running one job at a time has none meanwhile)."""

    def wait_before_dequeue(self) -> float:
        """Seconds to pause before taking the next job (override it; 0: none)."""
        return 0.0

    def heartbeat(self, timeout: int | None = None, pipeline: Any = None) -> None:
        """RQ's heartbeat, in one round trip (RQ sends its three commands one by one).

        A Redis that restarted empty forgot the worker's registration; RQ's heartbeat
        would only recreate part of its hash, leaving it invisible to ``rq info`` and the
        dashboard, so the worker registers again.
        """
        if pipeline is not None:
            super().heartbeat(timeout, pipeline=pipeline)  # type: ignore[misc]
            return
        with self.connection.pipeline() as pipe:
            super().heartbeat(timeout, pipeline=pipe)  # type: ignore[misc]
            created = pipe.execute()[0]
        if created:  # HSET made a new field: the worker's hash was gone
            self._register_again()

    def _register_again(self) -> None:
        self.connection.delete(self.key)  # type: ignore[attr-defined]
        self.register_birth()  # type: ignore[attr-defined]
        self.log.warning("Worker %s: registered again (Redis had lost it)", self.name)

    def get_heartbeat_ttl(self, job: Job, working_time: float = 0.0) -> int:
        """RQ's TTL with a configurable grace instead of its fixed 60 s."""
        interval = self.job_monitoring_interval
        if job.timeout and job.timeout > 0:
            interval = int(min(job.timeout - working_time, interval))
        return max(1, interval) + self.heartbeat_grace

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Run the job as RQ does, then end its dispatch so the tenant may go on."""
        try:
            super().execute_job(job, queue)  # type: ignore[misc]
        finally:
            entry = self._tokens.pop(job.id, None)
            if entry is not None:
                self.dispatcher.release(*entry)

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """The next job any tenant may start now (or one of the fixed queues'), blocking
        up to ``timeout`` seconds in total (None: burst mode, return None when idle)."""
        self.set_state(WorkerStatus.IDLE)  # type: ignore[attr-defined]
        self.procline("Dispatching tenant queues")  # type: ignore[attr-defined]
        started = time.monotonic()
        backoff = 0.5
        while True:
            try:
                if self._redis_failed:
                    self._hold_after_outage()
                result = self._dequeue_once(timeout, max_idle_time, started)
            except (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError) as exc:
                self.log.error("Worker %s: Redis unavailable (%s), retrying", self.name, exc)
                self._redis_failed = True
                time.sleep(backoff)
                backoff = min(backoff * 2, REDIS_RETRY_MAX_SECONDS)
                continue
            if result is not False:
                # No heartbeat here: RQ sends one with the job's start-up bookkeeping.
                return result  # type: ignore[return-value]

    def _hold_after_outage(self) -> None:
        """Redis answers again: hold dispatching one window, and be registered again."""
        if self.outage_hold > 0:
            self.dispatcher.hold(self.outage_hold)
        self.heartbeat()
        self._redis_failed = False

    # -- the dequeue step -------------------------------------------------------------

    def _dequeue_once(
        self, timeout: int | None, max_idle_time: int | None, started: float
    ) -> tuple[Job, Queue] | bool | None:
        """One round: a job, None (give up: burst or idle limit) or False (try again)."""
        self._heartbeat_if_due()
        self.maintain_in_flight()
        if self.should_run_maintenance_tasks:  # type: ignore[attr-defined]
            self.run_maintenance_tasks()  # type: ignore[attr-defined]
        self._maybe_recover()
        pause = self.wait_before_dequeue()
        if pause > 0:
            time.sleep(min(pause, HEARTBEAT_EVERY))
            return False
        # The fixed queues first: their housekeeping jobs are few, and tenants that keep
        # every worker busy must not starve them.
        plain = self._fixed_queues_job_now()
        if plain is not None:
            return plain
        decision = self.dispatcher.pop()
        if isinstance(decision, Dispatched):
            return self._claim(decision) or False
        if decision.until is None and timeout is None:
            return None
        idle_for = time.monotonic() - started
        if max_idle_time is not None and decision.until is None and idle_for >= max_idle_time:
            return None
        wait = decision.seconds if decision.seconds is not None else float(self.dequeue_timeout)
        wait = min(wait, float(self.dequeue_timeout), self.recovery_interval)
        if max_idle_time is not None:
            wait = min(wait, max(max_idle_time - idle_for, 0.01))
        item = self.dispatcher.wait_for_work(wait, [q.key for q in self.queues])
        if item is not None:
            return self._fixed_queue_job(*item) or False
        return False

    def _heartbeat_if_due(self) -> None:
        # Rounds come as often as slots free (tens a second across the workers); the
        # worker's key lives for minutes, so one heartbeat a second says it is alive.
        last = self.last_heartbeat
        if last is None or (rq_now() - last).total_seconds() >= HEARTBEAT_EVERY:
            self.heartbeat()

    def _fixed_queues_job_now(self) -> tuple[Job, Queue] | None:
        """A job of the fixed queues if one is waiting (RQ's own non-blocking dequeue)."""
        if not self.queues:
            return None
        result: tuple[Job, Queue] | None = Queue.dequeue_any(
            self.queues,
            None,
            connection=self.connection,
            job_class=self.job_class,
            serializer=self.serializer,
        )
        return result

    def _claim(self, decision: Dispatched) -> tuple[Job, Queue] | None:
        """The Job and TenantQueue of a dispatch (None if the job vanished meanwhile)."""
        queue = TenantQueue(
            decision.queue_name,
            connection=self.connection,
            job_class=self.job_class,
            serializer=self.serializer,
        )
        try:
            job = self.job_class.fetch(
                decision.job_id, connection=self.connection, serializer=self.serializer
            )
        except NoSuchJobError:
            self.dispatcher.release(decision.tenant_id, decision.token)
            return None
        self._tokens[job.id] = (decision.tenant_id, decision.token)
        self.log.info("Worker %s: %s: %s", self.name, queue.name, job.id)
        return job, queue

    def _fixed_queue_job(self, queue_key: str, job_id: str) -> tuple[Job, Queue] | None:
        """The job a blocking pop took from one of the fixed queues."""
        for queue in self.queues:
            if queue.key == queue_key and self.job_class.exists(job_id, self.connection):
                job = self.job_class.fetch(
                    job_id, connection=self.connection, serializer=self.serializer
                )
                return job, queue
        return None

    def _maybe_recover(self) -> None:
        now = time.monotonic()
        if now < self._next_recovery:
            return
        self._next_recovery = now + self.recovery_interval
        for item in recover_abandoned(self.dispatcher, grace=self.lease_grace):
            self.log.warning(
                "Worker %s: %s job %s of tenant %s (its worker is gone)",
                self.name,
                item.action,
                item.job_id,
                item.tenant_id,
            )
        sweep_tenant_queues(self.dispatcher, batch=self.sweep_batch)


class TenantWorker(DispatchingMixin, Worker):
    """Forks a work horse per job, like ``rq.Worker``."""


class SimpleTenantWorker(DispatchingMixin, SimpleWorker):
    """Runs jobs in the worker process itself, like ``rq.SimpleWorker``."""
