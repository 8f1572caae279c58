"""``billhive dev``: one process tree with every part of the platform.

Children run in their own sessions so a terminal Ctrl-C reaches only this supervisor,
which then stops them in reverse start order (SIGTERM, then SIGKILL after a grace period).
On Linux each child also gets PR_SET_PDEATHSIG, so even a SIGKILLed supervisor leaves no
orphan behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

import httpx

GRACE_SECONDS = 10.0
NAME_WIDTH = 9


def _set_parent_death_signal() -> None:
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: Sequence[str]
    env: dict[str, str] = field(default_factory=dict)
    #: Infrastructure (Redis, the sandbox) stops last, after everything that uses it.
    infrastructure: bool = False
    process: subprocess.Popen[bytes] | None = None


class Supervisor:
    """Start children, relay their output with a name prefix, stop them all together."""

    def __init__(self, out: IO[str] | None = None) -> None:
        self.children: list[Child] = []
        self.out = out or sys.stdout
        self._stopping = threading.Event()
        self._lock = threading.Lock()

    def start(self, child: Child) -> Child:
        """Launch ``child`` and relay its output."""
        env = {**os.environ, **child.env, "PYTHONUNBUFFERED": "1"}
        child.process = subprocess.Popen(  # noqa: S603 - argv built by billhive itself
            list(child.argv),
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_set_parent_death_signal,  # noqa: PLW1509 - no threads touch it
        )
        self.children.append(child)
        threading.Thread(target=self._relay, args=(child,), daemon=True).start()
        return child

    def _relay(self, child: Child) -> None:
        assert child.process is not None and child.process.stdout is not None
        width = max(NAME_WIDTH, len(child.name))
        for raw in iter(child.process.stdout.readline, b""):
            line = raw.decode("utf-8", "replace").rstrip()
            self.say(f"{child.name:<{width}} | {line}")

    def say(self, text: str) -> None:
        """Print a line without interleaving with the children's output."""
        with self._lock:
            print(text, file=self.out, flush=True)

    def request_stop(self, *_args: object) -> None:
        """Signal handler: ask the supervision loop to stop."""
        self._stopping.set()

    def wait(self, poll: float = 0.2) -> int:
        """Block until a stop is requested or a child dies; then stop all. Returns exit code."""
        code = 0
        while not self._stopping.is_set():
            for child in self.children:
                assert child.process is not None
                if child.process.poll() is not None:
                    self.say(f"{child.name} exited with code {child.process.returncode}; stopping.")
                    code = 1
                    self._stopping.set()
                    break
            self._stopping.wait(poll)
        self.stop_all()
        return code

    def stop_all(self) -> None:
        """Stop the app processes, then the infrastructure they use; SIGKILL stragglers."""
        self._stop_group([c for c in self.children if not c.infrastructure])
        self._stop_group([c for c in self.children if c.infrastructure])

    def _stop_group(self, children: list[Child]) -> None:
        for child in reversed(children):
            if child.process and child.process.poll() is None:
                _signal_group(child.process, signal.SIGTERM)
        deadline = time.monotonic() + GRACE_SECONDS
        for child in reversed(children):
            if child.process is None:
                continue
            try:
                child.process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(f"{child.name} did not stop in {GRACE_SECONDS:.0f}s; killing it.")
                _signal_group(child.process, signal.SIGKILL)
                child.process.wait()
            # Kill anything the child left in its group (e.g. a forked work horse).
            _signal_group(child.process, signal.SIGKILL)

    def install_signal_handlers(self) -> None:
        """Ctrl-C and SIGTERM stop the tree cleanly instead of raising."""
        signal.signal(signal.SIGINT, self.request_stop)
        signal.signal(signal.SIGTERM, self.request_stop)


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, sig)


def wait_until_up(
    url: str, timeout: float = 30.0, alive: Callable[[], bool] = lambda: True
) -> bool:
    """Poll ``url`` until it answers with a status below 500, the child dies, or time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and alive():
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return True
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    return False
