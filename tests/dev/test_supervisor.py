"""`billhive dev`: the whole platform in one process tree that Ctrl-C stops cleanly."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from billhive.dev.embedded_redis import free_port


def _pids_with_marker(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:
            continue
    return found


class DevRun:
    def __init__(self, tmp_path: Path, *, stream: bool = False) -> None:
        self.instance = tmp_path / "instance"
        self.marker = f"BILLHIVE_TEST_MARKER={uuid.uuid4().hex}"
        self.web_port = free_port()
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in {"BILLHIVE_DATABASE_URL", "BILLHIVE_REDIS_URL", "BILLHIVE_BILLBEE_BASE_URL"}
        }
        env.update(
            BILLHIVE_INSTANCE_PATH=str(self.instance),
            BILLHIVE_WEB_PORT=str(self.web_port),
            BILLHIVE_SANDBOX_PORT=str(free_port()),
            BILLHIVE_TEST_MARKER=self.marker.split("=", 1)[1],
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "billhive.cli", "dev", *(() if stream else ("--no-stream",))],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self.ready = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)
            if "billhive is running" in line:
                self.ready.set()

    @property
    def output(self) -> str:
        return "".join(self.lines)


@pytest.fixture
def dev_run_factory(tmp_path: Path) -> Iterator[Callable[..., DevRun]]:
    runs: list[DevRun] = []

    def start(**options: bool) -> DevRun:
        runs.append(DevRun(tmp_path, **options))
        return runs[-1]

    yield start
    for run in runs:
        _stop(run)


@pytest.fixture(scope="module")
def running_dev(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevRun]:
    """One dev tree (demo stream on) shared by the tests that only look at it."""
    run = DevRun(tmp_path_factory.mktemp("dev"), stream=True)
    _wait_ready(run)
    yield run
    _stop(run)


def _stop(run: DevRun) -> None:
    if run.process.poll() is None:
        run.process.kill()
        run.process.wait()
    for pid in _pids_with_marker(run.marker):
        os.kill(pid, signal.SIGKILL)


def _wait_ready(run: DevRun) -> None:
    assert run.ready.wait(90), f"billhive dev did not come up:\n{run.output}"
    time.sleep(0.5)  # the rest of the banner


def test_dev_serves_the_landing_page_and_healthz_at_the_printed_url(running_dev: DevRun) -> None:
    dev_run = running_dev
    match = re.search(r"Web app:\s+(http://\S+)/", dev_run.output)
    assert match, dev_run.output
    base = match.group(1)
    assert httpx.get(base + "/").status_code == 200
    health = httpx.get(base + "/healthz")
    assert health.status_code == 200, health.text
    assert health.json()["status"] == "ok"


def test_dev_starts_redis_sandbox_web_worker_and_scheduler(running_dev: DevRun) -> None:
    dev_run = running_dev
    match = re.search(r"Billbee sandbox:\s+(http://\S+)", dev_run.output)
    assert match, dev_run.output
    assert httpx.get(match.group(1) + "/_sandbox/health").status_code == 200
    names = {line.split("|", 1)[0].strip() for line in dev_run.lines if "|" in line}
    # Every child that prints is prefixed with its name; the five are all alive.
    assert dev_run.process.poll() is None
    assert len(_pids_with_marker(dev_run.marker)) >= 5, names


def test_ctrl_c_stops_every_child_without_a_traceback(
    dev_run_factory: Callable[..., DevRun],
) -> None:
    dev_run = dev_run_factory()
    _wait_ready(dev_run)
    assert len(_pids_with_marker(dev_run.marker)) >= 5
    dev_run.process.send_signal(signal.SIGINT)
    assert dev_run.process.wait(timeout=30) == 0
    time.sleep(0.3)
    assert _pids_with_marker(dev_run.marker) == []
    assert "Traceback" not in dev_run.output


def test_dev_prints_the_demo_merchants_and_a_one_time_admin_login(running_dev: DevRun) -> None:
    dev_run = running_dev
    assert "Demo Shop: username demo@billhive.test" in dev_run.output
    assert re.search(r"Admin login:\s+admin@localhost / \S+\s+\(shown once\)", dev_run.output)


def test_the_demo_stream_makes_scoped_calls_within_a_minute(running_dev: DevRun) -> None:
    run = running_dev
    deadline = time.monotonic() + 60
    succeeded = 0
    while time.monotonic() < deadline and succeeded < 5:
        with sqlite3.connect(run.instance / "billhive.db") as connection:
            succeeded = connection.execute(
                "SELECT count(*) FROM calls WHERE status = 'succeeded'"
            ).fetchone()[0]
        time.sleep(1)
    assert succeeded >= 5, run.output[-3000:]
