"""Serve a Flask app factory under gunicorn (production and ``billhive dev`` alike)."""

from __future__ import annotations

import gc
from collections.abc import Callable
from typing import Any

from flask import Flask
from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):  # type: ignore[misc]
    """A gunicorn master serving the app that ``factory`` builds in each worker."""

    def __init__(self, factory: Callable[[], Flask], options: dict[str, Any]) -> None:
        self.factory = factory
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings and value is not None:
                self.cfg.set(key, value)

    def load(self) -> Flask:
        app = self.factory()
        # Everything built so far lives as long as the worker: keep it out of the cyclic
        # garbage collector, whose full passes over it stalled a worker for ~100 ms.
        gc.freeze()
        return app


def serve(
    factory: Callable[[], Flask],
    host: str,
    port: int,
    workers: int,
    *,
    threads: int = 4,
    access_log: bool = False,
) -> None:
    """Run gunicorn in the foreground until SIGINT/SIGTERM."""
    options: dict[str, Any] = {
        "bind": f"{host}:{port}",
        "workers": workers,
        "threads": threads,
        "worker_class": "gthread",
        "timeout": 60,
        "graceful_timeout": 10,
        "accesslog": "-" if access_log else None,
        "loglevel": "warning",
    }
    GunicornServer(factory, options).run()
