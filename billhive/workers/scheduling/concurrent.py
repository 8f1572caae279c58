"""A worker process that carries many calls at once: RQ's SimpleWorker, run by threads.

A Billbee call is a few milliseconds of CPU around a wait of 150 ms to a second for the
answer, so one call at a time per process (RQ's model) needs ``50 x latency`` processes to
fill the key's 50 calls/s. This worker takes the next job from the dispatcher as soon as
it has room and hands it to a thread; RQ's bookkeeping is per execution (RQ 3 keeps a
worker's executions apart), so the started registry, heartbeats, results and retries stay
right for every job in flight. Everything the dispatcher guarantees (limits, fairness,
lanes, the ordering rule) is decided at the pop, and a job is released when it ended, as
before: running several jobs at once changes none of it.

How many at once (:class:`InFlightSizer`): just enough to fill the key at the measured
latency (Little's law: calls in flight = rate x time in flight), shared among the worker
processes that are alive, with headroom, between a floor and a ceiling. An operator
chooses the number of processes for resilience and CPU, not for throughput.

Stopping: SIGTERM lets every call in flight finish (up to its job's timeout) before the
process exits; SIGKILL loses nothing (the dispatcher's leases bring the jobs back).
Timeouts are thread-safe (RQ's ``TimerDeathPenalty``: SIGALRM reaches the main thread
only).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from rq import Queue, SimpleWorker
from rq.executions import Execution
from rq.job import Job
from rq.timeouts import TimerDeathPenalty

from billhive.workers.scheduling.worker import DispatchingMixin

#: Seconds between the refreshes of the heartbeats of the jobs in flight.
EXECUTION_HEARTBEAT_EVERY = 10.0
#: Longest single wait for room before the worker looks at its heartbeats again.
ROOM_WAIT = 0.5
#: Seconds between reports of the worker's load (calls in flight, target) to report_load.
LOAD_EVERY = 2.0


@dataclass
class InFlightSizer:
    """How many calls one worker process keeps in flight.

    ``rate``: the calls per second the key allows (the dispatcher never exceeds it, so more
    in flight only waits); ``latency``: the measured seconds a call takes; ``processes``:
    the worker processes sharing the rate; ``headroom``: the margin for the latency's
    spread and the job's own start-up. Bounded by ``floor`` and ``ceiling``.
    """

    rate: float = 50.0
    floor: int = 2
    ceiling: int = 64
    headroom: float = 1.5
    processes: Callable[[], int] = lambda: 1
    latency: Callable[[], float] = lambda: 0.2

    def target(self) -> int:
        """Little's law: rate x latency calls in flight, this process's share, with
        headroom and one spare, within the bounds."""
        share = self.rate * max(self.latency(), 0.0) * self.headroom / max(self.processes(), 1)
        return max(self.floor, min(self.ceiling, math.ceil(share) + 1))


@dataclass
class _InFlight:
    job: Job
    queue: Queue
    execution: Execution
    started: float = field(default_factory=time.monotonic)


class ConcurrentDispatchingMixin(DispatchingMixin):
    """Runs the jobs the dispatcher hands out in threads, up to the sizer's target.

    Options: ``sizer`` (default: an :class:`InFlightSizer` with its defaults); the thread
    pool holds ``sizer.ceiling`` threads at most.
    """

    def __init__(self, *args: Any, sizer: InFlightSizer | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sizer = sizer or InFlightSizer()
        self._pool = ThreadPoolExecutor(
            max_workers=self.sizer.ceiling, thread_name_prefix="billhive-call"
        )
        self._room = threading.Condition()
        self._in_flight: dict[str, _InFlight] = {}
        self._next_execution_heartbeat = 0.0
        self._next_load = 0.0

    # -- what is in flight ------------------------------------------------------------

    @property
    def in_flight(self) -> int:
        """Jobs this process is running now."""
        with self._room:
            return len(self._in_flight)

    def execute_job(self, job: Job, queue: Queue) -> None:
        """Start the job in a thread and return at once: RQ's loop takes the next."""
        execution = self.prepare_execution(job)  # type: ignore[attr-defined]
        with self._room:
            self._in_flight[job.id] = _InFlight(job, queue, execution)
        self._pool.submit(self._run, job, queue, execution)

    def _run(self, job: Job, queue: Queue, execution: Execution) -> None:
        try:
            self.perform_job(job, queue, execution)  # type: ignore[attr-defined]
        except BaseException:
            self.log.exception("Worker %s: job %s ended with an error", self.name, job.id)
        finally:
            entry = self._tokens.pop(job.id, None)
            try:
                if entry is not None:
                    self.dispatcher.release(*entry)
            finally:
                with self._room:
                    self._in_flight.pop(job.id, None)
                    self._room.notify_all()

    # -- taking the next job ----------------------------------------------------------

    def dequeue_job_and_maintain_ttl(
        self, timeout: int | None, max_idle_time: int | None = None
    ) -> tuple[Job, Queue] | None:
        """Wait for room below the target, then take the next job as before. In burst
        mode, return None only when nothing is in flight either (a job ending may let
        the jobs ordered after it start)."""
        while True:
            self._wait_for_room()
            if self._stop_requested:
                return None  # RQ's loop ends; teardown lets the calls in flight finish
            result = super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)
            if result is not None or not self.in_flight:
                return result
            self._wait_until_idle()

    def _wait_for_room(self) -> None:
        while not self._stop_requested:
            self.maintain_in_flight()
            with self._room:
                if len(self._in_flight) < self.sizer.target():
                    return
                self._room.wait(ROOM_WAIT)
            self._heartbeat_if_due()

    def _wait_until_idle(self, limit: float | None = None) -> bool:
        """Block until nothing is in flight (or ``limit`` seconds passed); True if idle."""
        deadline = None if limit is None else time.monotonic() + limit
        while True:
            self.maintain_in_flight()
            with self._room:
                if not self._in_flight:
                    return True
                if deadline is not None and time.monotonic() >= deadline:
                    return False
                self._room.wait(ROOM_WAIT)
            self._heartbeat_if_due()

    def maintain_in_flight(self) -> None:
        """Keep every running job's execution alive in RQ's registries (a job in a thread
        sends no heartbeat of its own, and recovery takes a silent one for dead)."""
        now = time.monotonic()
        if now >= self._next_load:
            self._next_load = now + LOAD_EVERY
            self.report_load(self.in_flight, self.sizer.target())
        if now < self._next_execution_heartbeat:
            return
        every = min(EXECUTION_HEARTBEAT_EVERY, self.job_monitoring_interval / 2)
        self._next_execution_heartbeat = now + every
        with self._room:
            running = list(self._in_flight.values())
        if not running:
            return
        with self.connection.pipeline() as pipe:
            for item in running:
                elapsed = now - item.started
                ttl = self.get_heartbeat_ttl(item.job, elapsed)
                item.execution.heartbeat(item.queue.started_job_registry, ttl, pipe)
            pipe.execute()

    def report_load(self, in_flight: int, target: int) -> None:
        """Tell the dashboard how many calls this process carries (override it)."""

    # -- stopping ---------------------------------------------------------------------

    def teardown(self) -> None:
        """Let the calls in flight finish (each within its job's timeout), then RQ's own
        teardown: a deploy's SIGTERM hands back no work half done."""
        with self._room:
            longest = max((e.job.timeout or 0 for e in self._in_flight.values()), default=0)
        if not self._wait_until_idle(limit=float(longest) + 5):
            self.log.warning(
                "Worker %s: %s jobs still running at exit (recovery brings them back)",
                self.name,
                self.in_flight,
            )
        self._pool.shutdown(wait=False, cancel_futures=True)
        super().teardown()  # type: ignore[misc]


class ConcurrentTenantWorker(ConcurrentDispatchingMixin, SimpleWorker):
    """Many calls at once in one process (see the module docstring)."""

    # SIGALRM, RQ's default, reaches the main thread only.
    death_penalty_class = TimerDeathPenalty
