"""What ``billhive dev`` starts, in which order, with which settings."""

from __future__ import annotations

import socket
import sys

from billhive.config import ConfigError, Settings, ensure_dev_secrets, load_settings
from billhive.db import upgrade
from billhive.devserver import Child, Supervisor, wait_until_up
from billhive.embedded_redis import EmbeddedRedisError, find_redis_server, free_port, redis_command
from billhive.embedded_redis import wait_for_redis as _wait_for_redis


def _port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _billhive(*args: str) -> list[str]:
    return [sys.executable, "-m", "billhive.cli", *args]


def _check_ports(settings: Settings, use_sandbox: bool) -> None:
    wanted = [("BILLHIVE_WEB_PORT", settings.web_host, settings.web_port)]
    if use_sandbox:
        wanted.append(("BILLHIVE_SANDBOX_PORT", settings.sandbox_host, settings.sandbox_port))
    for name, host, port in wanted:
        if not _port_free(host, port):
            raise ConfigError(f"Port {port} on {host} is in use: stop what uses it or set {name}.")


def run_dev(*, stream: bool = True) -> int:
    """Start Redis (if needed), the sandbox (if needed), web, worker and scheduler."""
    base = load_settings()
    ensure_dev_secrets(base.instance_path)
    settings = load_settings()
    use_sandbox = settings.billbee_base_url_is_default
    supervisor = Supervisor()
    try:
        _check_ports(settings, use_sandbox)
        upgrade(settings.effective_database_url)
    except ConfigError as exc:
        print(f"billhive dev: {exc}", file=sys.stderr)
        return 2

    env: dict[str, str] = {"BILLHIVE_INSTANCE_PATH": str(settings.instance_path)}
    supervisor.install_signal_handlers()
    try:
        if not settings.redis_url:
            port = free_port()
            data_dir = settings.instance_path / "redis"
            data_dir.mkdir(parents=True, exist_ok=True)
            supervisor.start(
                Child(
                    "redis",
                    redis_command(find_redis_server(), port, data_dir),
                    infrastructure=True,
                )
            )
            env["BILLHIVE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
            _wait_for_redis(env["BILLHIVE_REDIS_URL"])
        if use_sandbox:
            api_key = settings.require("billbee_api_key")
            sandbox_env = {**env, "BILLHIVE_SANDBOX_API_KEYS": api_key}
            supervisor.start(
                Child("sandbox", _billhive("sandbox"), sandbox_env, infrastructure=True)
            )
            env["BILLHIVE_BILLBEE_BASE_URL"] = (
                f"http://{settings.sandbox_host}:{settings.sandbox_port}/api/v1"
            )
        supervisor.start(Child("web", _billhive("web", "--workers", "1"), env))
        supervisor.start(Child("worker", _billhive("worker"), env))
        supervisor.start(Child("scheduler", _billhive("scheduler"), env))
    except EmbeddedRedisError as exc:
        supervisor.stop_all()
        print(f"billhive dev: {exc}", file=sys.stderr)
        return 2

    web_url = f"http://{settings.web_host}:{settings.web_port}"
    web = supervisor.children[-3]
    if wait_until_up(
        f"{web_url}/healthz", alive=lambda: web.process is not None and web.process.poll() is None
    ):
        lines = [
            "",
            "billhive is running. Ctrl-C stops everything.",
            f"  Web app:        {web_url}/",
            f"  Health:         {web_url}/healthz",
        ]
        if use_sandbox:
            lines.append(f"  Billbee sandbox: {env['BILLHIVE_BILLBEE_BASE_URL']}")
        lines.append(f"  Redis:          {env.get('BILLHIVE_REDIS_URL', settings.redis_url)}")
        lines.append(f"  Database:       {settings.effective_database_url}")
        supervisor.say("\n".join(lines) + "\n")
    return supervisor.wait()
