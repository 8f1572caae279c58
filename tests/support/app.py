"""Helpers for tests of the web app."""

from typing import Any

from flask import Flask

from billhive.platform.extensions import resources


def override_settings(app: Flask, **values: Any) -> None:
    """Change settings of ``app``'s service container for the rest of a test (views read
    settings at request time, so the next request sees them)."""
    container = resources(app)
    container.settings = container.settings.model_copy(update=values)
