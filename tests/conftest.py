"""Shared fixtures: an isolated database and Redis per test, app and live servers.

The suite uses BILLHIVE_DATABASE_URL / BILLHIVE_REDIS_URL when they are set (CI runs it
on PostgreSQL and the machine's Redis), otherwise a SQLite file and an embedded real
redis-server.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from redis import Redis
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session
from support.production import production_secrets
from werkzeug.serving import BaseWSGIServer, make_server

from billhive.config import Settings, generate_dev_secrets, load_settings
from billhive.db import Base, Database, make_engine, upgrade
from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.tenants.vault import Vault

ENV_DB = os.environ.get("BILLHIVE_DATABASE_URL", "")
ENV_REDIS = os.environ.get("BILLHIVE_REDIS_URL", "")


# -- database -------------------------------------------------------------------------


def _worker_tag() -> str:
    return os.environ.get("PYTEST_XDIST_WORKER", "main")


@pytest.fixture(scope="session")
def database_url(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fresh, migrated database for this test session (one per xdist worker)."""
    if ENV_DB and not ENV_DB.startswith("sqlite"):
        url = make_url(ENV_DB)
        name = f"billhive_test_{_worker_tag()}_{uuid.uuid4().hex[:8]}"
        admin = make_engine(url.set(database="postgres").render_as_string(False), pool=False)
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        test_url = url.set(database=name).render_as_string(False)
        upgrade(test_url)
        yield test_url
        with admin.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    else:
        path = tmp_path_factory.mktemp("db") / "billhive-test.db"
        test_url = f"sqlite:///{path}"
        upgrade(test_url)
        yield test_url


@pytest.fixture(scope="session")
def database(database_url: str) -> Iterator[Database]:
    """The session's Database (engine + sessionmaker)."""
    db = Database(database_url)
    yield db
    db.dispose()


def _truncate_all(db: Database) -> None:
    # Only tables the migrations created: a model without its migration is caught by
    # tests/test_migrations.py, not by every test's cleanup.
    existing = set(inspect(db.engine).get_table_names())
    tables = [t.name for t in reversed(Base.metadata.sorted_tables) if t.name in existing]
    if not tables:
        return
    with db.engine.begin() as conn:
        if db.engine.dialect.name == "postgresql":
            conn.execute(text("TRUNCATE " + ", ".join(f'"{t}"' for t in tables) + " CASCADE"))
        else:
            for table in tables:
                conn.execute(text(f'DELETE FROM "{table}"'))


@pytest.fixture
def db(database: Database) -> Iterator[Database]:
    """The database, emptied after the test (safe for code under test that commits)."""
    yield database
    _truncate_all(database)


@pytest.fixture
def session(db: Database) -> Iterator[Session]:
    """A session on the test's database."""
    s = db.sessionmaker()
    yield s
    s.close()


# -- redis ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def redis_server_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The Redis every test of this session uses (one DB number per xdist worker).

    The numbers count up from the one after BILLHIVE_REDIS_URL's (base + 1 ... base +
    workers), so test runs on one Redis whose ranges do not overlap never flush each
    other's data. A number the server does not have stops the run naming it.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    offset = 1 + int(worker[2:]) if worker.startswith("gw") else 1
    if ENV_REDIS:
        parts = urlsplit(ENV_REDIS)
        base = int(parts.path.strip("/") or 0)
        probe = Redis.from_url(ENV_REDIS)
        databases = int(probe.config_get("databases").get("databases", 16))
        probe.close()
        if base + offset >= databases:
            pytest.exit(
                f"BILLHIVE_REDIS_URL's database {base} leaves no database {base + offset} for "
                f"this test process (the server has {databases}); give a smaller number",
                returncode=4,
            )
        yield parts._replace(path=f"/{base + offset}").geturl()
        return
    with EmbeddedRedis(tmp_path_factory.mktemp("redis")) as server:
        yield server.url.rsplit("/", 1)[0] + f"/{offset}"


#: The dispatcher's epoch key: a Redis without it is one that lost the dispatcher's past,
#: and the workers' dispatcher then holds every call for a second (docs/scheduling.md).
DISPATCHER_EPOCH_KEY = "billhive:d:epoch"


@pytest.fixture
def redis_url(redis_server_url: str) -> Iterator[str]:
    """The test's Redis URL; the database is flushed after the test.

    It starts as a Redis the dispatcher has used before (its epoch key set): the tests
    of what happens after Redis lost its data delete the key themselves.
    """
    client = Redis.from_url(redis_server_url)
    client.set(DISPATCHER_EPOCH_KEY, "0")
    yield redis_server_url
    client.flushdb()
    client.close()


@pytest.fixture
def redis_client(redis_url: str) -> Iterator[Redis]:
    """A Redis client on the test's (flushed afterwards) database."""
    client = Redis.from_url(redis_url)
    yield client
    client.close()


# -- settings and the app -----------------------------------------------------------


@pytest.fixture
def production_settings(settings_factory: Callable[..., Settings], db: Database) -> Settings:
    """Production-mode settings on the test database and Redis (https public URL)."""
    return settings_factory(
        env="production", public_url="https://billhive.example.com", **production_secrets()
    )


@pytest.fixture(scope="session")
def test_secrets() -> dict[str, str]:
    """Secret settings for the session (random, never printed)."""
    return {k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()}


@pytest.fixture
def settings_factory(
    database_url: str, redis_url: str, test_secrets: dict[str, str], tmp_path: Path
) -> Callable[..., Settings]:
    """Build Settings on the test database and Redis, with overrides."""

    def build(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "env": "test",
            "instance_path": tmp_path / "instance",
            "database_url": database_url,
            "redis_url": redis_url,
            **test_secrets,
        }
        values.update(overrides)
        return load_settings(**values)

    return build


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db: Database) -> Settings:
    """Settings for the test (database emptied afterwards)."""
    return settings_factory()


@pytest.fixture
def app(settings: Settings) -> Iterator[Any]:
    """The web app on the test's database and Redis."""
    from billhive.platform import create_app

    application = create_app(settings)
    application.config.update(TESTING=True)
    yield application


@pytest.fixture
def client(app: Any) -> Any:
    """A Flask test client."""
    return app.test_client()


# -- live servers ---------------------------------------------------------------------


class LiveServer:
    """A WSGI app served over real HTTP on a free loopback port, in a thread."""

    def __init__(self, wsgi_app: Any) -> None:
        self.server: BaseWSGIServer = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.port = self.server.server_port
        self.url = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def live_server_factory() -> Iterator[Callable[[Any], LiveServer]]:
    """Serve any WSGI app over HTTP for the test; stopped afterwards."""
    servers: list[LiveServer] = []

    def serve(wsgi_app: Any) -> LiveServer:
        server = LiveServer(wsgi_app).start()
        servers.append(server)
        return server

    yield serve
    for server in servers:
        server.stop()


@pytest.fixture
def vault(settings_factory: Callable[..., Settings]) -> Vault:
    """The vault of the test settings (the one workers and the app build from them)."""
    return Vault.from_settings(settings_factory())


# -- parallel runs --------------------------------------------------------------------


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`--dist loadgroup`), run the `exclusive` tests one after another
    on one worker: they start many real processes and hold Billbee's limits or deadlines,
    which two of them at once on the machine's cores would distort. The other tests fill
    the other workers meanwhile. Skip the `postgres_only` tests on SQLite."""
    on_postgres = ENV_DB.startswith("postgresql")
    for item in items:
        if item.get_closest_marker("exclusive") is not None:
            item.add_marker(pytest.mark.xdist_group("exclusive"))
        if item.get_closest_marker("postgres_only") is not None and not on_postgres:
            item.add_marker(pytest.mark.skip(reason="needs PostgreSQL (BILLHIVE_DATABASE_URL)"))
