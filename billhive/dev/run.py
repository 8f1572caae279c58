"""What ``billhive dev`` starts, in which order, with which settings."""

from __future__ import annotations

import socket
import sys
from typing import Any

import httpx
from sqlalchemy.engine import make_url

from billhive.config import ConfigError, Settings, ensure_dev_secrets, load_settings
from billhive.db import Database, upgrade
from billhive.dev.embedded_redis import (
    EmbeddedRedisError,
    find_redis_server,
    free_port,
    redis_command,
    wait_for_redis,
)
from billhive.dev.supervisor import Child, Supervisor, wait_until_up

#: Worker processes of the dev tree: enough to see parallel calls, light on a laptop.
DEV_WORKERS = 2


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


def _hide_password(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _start_redis(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    port = free_port()
    data_dir = settings.instance_path / "redis"
    data_dir.mkdir(parents=True, exist_ok=True)
    # Persistent, so a newcomer's queued calls survive Ctrl-C and the next `make run`.
    argv = redis_command(find_redis_server(), port, data_dir, persist=True)
    supervisor.start(Child("redis", argv, infrastructure=True))
    env["BILLHIVE_REDIS_URL"] = f"redis://127.0.0.1:{port}/0"
    wait_for_redis(env["BILLHIVE_REDIS_URL"])


def _start_sandbox(supervisor: Supervisor, settings: Settings, env: dict[str, str]) -> None:
    sandbox_env = {**env, "BILLHIVE_SANDBOX_API_KEYS": settings.require("billbee_api_key")}
    supervisor.start(Child("sandbox", _billhive("sandbox"), sandbox_env, infrastructure=True))
    env["BILLHIVE_BILLBEE_BASE_URL"] = (
        f"http://{settings.sandbox_host}:{settings.sandbox_port}/api/v1"
    )
    if not wait_until_up(env["BILLHIVE_BILLBEE_BASE_URL"] + "/_sandbox/health"):
        raise ConfigError("the Billbee sandbox did not start; see its output above")


def _demo_lines(settings: Settings) -> list[str]:
    from billhive.dev.demo import sign_up_demo_merchants

    lines = ["  Demo merchants (sandbox logins, signed up as tenants):"]
    for merchant in sign_up_demo_merchants(settings):
        lines.append(
            f"    {merchant.name}: username {merchant.username}  "
            f"API password {merchant.password}  [{merchant.status}]"
        )
    return lines


def _demo_feed_lines(settings: Settings, sandbox_api_url: str) -> list[str]:
    from billhive.dev.demo import (
        DEMO_CHANGES_PER_ACCOUNT_PER_MINUTE,
        start_demo_changes,
        switch_on_demo_feeds,
    )

    tenants = switch_on_demo_feeds(settings)
    try:
        start_demo_changes(sandbox_api_url)
    except httpx.HTTPError as exc:
        # The demo runs without changes rather than not at all.
        return [f"  Change feeds:   orders of {tenants} demo merchants (no sandbox changes: {exc})"]
    return [
        f"  Change feeds:   orders of {tenants} demo merchants; the sandbox changes about "
        f"{DEMO_CHANGES_PER_ACCOUNT_PER_MINUTE:g} orders per merchant and minute"
    ]


def _admin_lines(settings: Settings) -> list[str]:
    try:
        from billhive.platform.admin.accounts import ensure_dev_admin
    except ImportError:  # the dashboard is optional in a stripped-down build
        return []
    database = Database(settings.effective_database_url, pool=False)
    try:
        with database.session() as session:
            created = ensure_dev_admin(session)
    finally:
        database.dispose()
    if created is None:
        return ["  Admin login:    (an admin account exists; `billhive admin create` adds one)"]
    email, password = created
    return [f"  Admin login:    {email} / {password}   (shown once)"]


def _banner(settings: Settings, env: dict[str, str], use_sandbox: bool) -> list[str]:
    web_url = f"http://{settings.web_host}:{settings.web_port}"
    lines = [
        "",
        "billhive is running. Ctrl-C stops everything.",
        f"  Web app:        {web_url}/",
        f"  Sign-up:        {web_url}/signup",
        f"  Admin:          {web_url}/admin/",
        f"  JSON API docs:  {web_url}/api/docs",
        f"  Health:         {web_url}/healthz",
    ]
    if use_sandbox:
        lines.append(f"  Billbee sandbox: {env['BILLHIVE_BILLBEE_BASE_URL']}")
    lines.append(f"  Redis:          {_hide_password(env['BILLHIVE_REDIS_URL'])}")
    lines.append(f"  Database:       {_hide_password(settings.effective_database_url)}")
    return lines


def run_dev(*, stream: bool = True) -> int:
    """Start Redis (if needed), the sandbox (if needed), web, worker and scheduler."""
    ensure_dev_secrets(load_settings().instance_path)
    settings = load_settings()
    use_sandbox = settings.billbee_base_url_is_default
    supervisor = Supervisor()
    env: dict[str, Any] = {
        "BILLHIVE_INSTANCE_PATH": str(settings.instance_path),
        "BILLHIVE_REDIS_URL": settings.redis_url,
    }
    try:
        _check_ports(settings, use_sandbox)
        upgrade(settings.effective_database_url)
        supervisor.install_signal_handlers()
        if not settings.redis_url:
            _start_redis(supervisor, settings, env)
        if use_sandbox:
            _start_sandbox(supervisor, settings, env)
            env["BILLHIVE_DEMO_STREAM"] = "true" if stream else "false"
        app_settings = load_settings(
            redis_url=env["BILLHIVE_REDIS_URL"],
            billbee_base_url=env.get("BILLHIVE_BILLBEE_BASE_URL", settings.billbee_base_url),
        )
        extra = _demo_lines(app_settings) if use_sandbox else []
        if use_sandbox and stream:
            extra += _demo_feed_lines(app_settings, env["BILLHIVE_BILLBEE_BASE_URL"])
        extra += _admin_lines(app_settings)
        supervisor.start(Child("web", _billhive("web", "--workers", "1"), env))
        supervisor.start(
            Child("worker", _billhive("worker", "--concurrency", str(DEV_WORKERS)), env)
        )
        supervisor.start(Child("scheduler", _billhive("scheduler"), env))
    except (ConfigError, EmbeddedRedisError) as exc:
        supervisor.stop_all()
        print(f"billhive dev: {exc}", file=sys.stderr)
        return 2

    web = supervisor.children[-3]
    web_url = f"http://{settings.web_host}:{settings.web_port}"
    if wait_until_up(
        f"{web_url}/healthz", alive=lambda: web.process is not None and web.process.poll() is None
    ):
        supervisor.say("\n".join([*_banner(settings, env, use_sandbox), *extra]) + "\n")
    return supervisor.wait()
