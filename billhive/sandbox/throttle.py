"""Billbee's rate limits in their strictest reading: a sliding-window log per bucket.

A bucket admits a call only when fewer than ``limit`` calls were accepted within the
last ``period`` seconds, so a burst straddling a window edge is caught (a fixed window
would let 2N calls through around the edge). A call is accepted only when every bucket
it consumes has room; a rejected call consumes nothing.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Protocol


class BucketLike(Protocol):
    """What the sandbox needs of ``billhive.billbee.limits.Bucket``."""

    @property
    def name(self) -> str: ...
    @property
    def key(self) -> str: ...
    @property
    def limit(self) -> int: ...
    @property
    def period(self) -> float: ...


class SlidingWindowThrottle:
    """Thread-safe sliding-window logs, one per bucket key."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._logs: dict[tuple[str, str], deque[float]] = {}
        self._calls = 0

    def try_acquire(
        self,
        buckets: Sequence[BucketLike],
        refused_by: list[str] | None = None,
        *,
        arrived: float | None = None,
    ) -> float | None:
        """Record the call and return None, or return the seconds until it would fit.

        ``refused_by`` receives the names of the full buckets (for the stats). ``arrived``
        is when the request reached the server (the throttle's clock); without it, now.
        """
        with self._lock:
            now = self._clock() if arrived is None else min(arrived, self._clock())
            wait = 0.0
            logs: list[deque[float]] = []
            for bucket in buckets:
                log = self._logs.setdefault((bucket.name, bucket.key), deque())
                horizon = now - bucket.period
                while log and log[0] <= horizon:
                    log.popleft()
                if len(log) >= bucket.limit:
                    # The slot frees when the call `limit` places back leaves the window.
                    wait = max(wait, log[-bucket.limit] + bucket.period - now)
                    if refused_by is not None:
                        refused_by.append(bucket.name)
                logs.append(log)
            if wait > 0:
                return wait
            for log in logs:
                # Requests are stamped on arrival but reach this point in any order.
                if log and log[-1] > now:
                    entries = sorted([*log, now])
                    log.clear()
                    log.extend(entries)
                else:
                    log.append(now)
            self._calls += 1
            if self._calls % 10_000 == 0:
                self._drop_idle(now)
            return None

    def _drop_idle(self, now: float) -> None:
        """Forget empty logs (per-order buckets would otherwise pile up)."""
        longest = 3600.0
        idle = [k for k, log in self._logs.items() if not log or log[-1] < now - longest]
        for key in idle:
            del self._logs[key]


def retry_after_header(wait: float) -> str:
    """Whole seconds until a slot frees, rounded up (at least 1)."""
    return str(max(1, math.ceil(wait)))
