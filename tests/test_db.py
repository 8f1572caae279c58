"""The engine's pooled connections: pinged only after sitting idle (PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine

from billhive import db as db_module
from billhive.db import make_engine


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    if database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL only: an SQLite file has no server that drops connections")
    engine = make_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def pings(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts the engine's pings (the real ping still runs)."""
    seen: list[int] = []
    real = engine.dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        seen.append(1)
        return real(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counted)
    return seen


def _backend_pid(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())


def test_a_connection_in_steady_use_is_not_pinged(engine: Engine, pings: list[int]) -> None:
    first = _backend_pid(engine)
    assert _backend_pid(engine) == first  # the same pooled connection, straight back
    assert pings == []


def test_a_connection_that_sat_idle_is_pinged_before_use(
    engine: Engine, pings: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    _backend_pid(engine)
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
    _backend_pid(engine)
    assert pings == [1]


def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    engine: Engine, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = _backend_pid(engine)
    admin = make_engine(database_url, pool=False)
    with admin.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": dropped})
    admin.dispose()
    monkeypatch.setattr(db_module, "PING_AFTER_IDLE", 0.0)
    assert _backend_pid(engine) != dropped
