"""The workers' per-process runtime: one reading of the dispatch settings, warm start."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from structlog.testing import capture_logs

from billhive.config import Settings
from billhive.workers.process import worker_class_for
from billhive.workers.runtime import Runtime, configured_dispatcher, set_runtime, warm_up


def test_jobs_and_workers_read_the_dispatch_settings_alike(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(dispatch_jitter_ms=50, dispatch_key_headroom=2, dispatch_lead_ms=10)
    rt = Runtime.from_settings(settings)
    try:
        worker = worker_class_for(settings, fork=False)([], connection=rt.redis)
        for dispatcher in (rt.dispatcher, worker.dispatcher):
            assert dispatcher.jitter_allowance == pytest.approx(0.05)
            assert dispatcher.shared_headroom == 2
            assert dispatcher.lead == pytest.approx(0.01)
    finally:
        rt.close()


def test_configured_dispatcher_takes_the_allowance_in_seconds(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(dispatch_jitter_ms=40)
    rt = Runtime.from_settings(settings)
    try:
        assert configured_dispatcher(rt.redis, settings).jitter_allowance == pytest.approx(0.04)
    finally:
        rt.close()


def test_warm_up_opens_the_database_connection_before_any_job(settings: Settings) -> None:
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        assert rt.database.engine.pool.checkedin() == 0
        warm_up()
        assert rt.database.engine.pool.checkedin() == 1
    finally:
        set_runtime(None)
        rt.close()


def test_warm_up_leaves_an_unreachable_database_to_the_first_job(
    settings_factory: Callable[..., Settings],
) -> None:
    settings = settings_factory(database_url="postgresql+psycopg://nobody@127.0.0.1:1/none")
    rt = Runtime.from_settings(settings)
    set_runtime(rt)
    try:
        with capture_logs() as logs:
            warm_up()
    finally:
        set_runtime(None)
        rt.close()
    assert [e["event"] for e in logs] == ["worker_warm_up_incomplete"]
    assert logs[0]["error"] == "OperationalError"
