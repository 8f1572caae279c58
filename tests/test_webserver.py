"""The gunicorn application: each worker builds the app, then freezes its start-up heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from flask import Flask

from billhive.webserver import GunicornServer


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def test_a_worker_loads_the_app_and_keeps_its_objects_out_of_the_collector(
    unfrozen: None,
) -> None:
    built = Flask("probe")
    server = GunicornServer(lambda: built, {"bind": "127.0.0.1:0", "workers": 1})
    assert server.load() is built
    assert gc.get_freeze_count() > 0
