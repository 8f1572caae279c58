"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask

from billhive import __version__
from billhive.config import Settings, load_settings
from billhive.db import Database
from billhive.platform import extensions
from billhive.platform.errors import register_error_handlers
from billhive.platform.health import bp as health_bp
from billhive.platform.home import bp as home_bp


def create_app(config: Settings | Mapping[str, Any] | None = None) -> Flask:
    """Build the web app.

    ``config`` is a ready :class:`Settings`, a mapping of setting overrides (tests), or
    None to read the environment.
    """
    settings = config if isinstance(config, Settings) else load_settings(**dict(config or {}))
    app = Flask(__name__)
    app.config.update(
        SECRET_KEY=settings.require("secret_key"),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=settings.env == "production",
        MAX_CONTENT_LENGTH=1024 * 1024,
        BILLHIVE_VERSION=__version__,
    )
    extensions.init_app(app, settings, Database(settings.effective_database_url))
    register_error_handlers(app)
    app.register_blueprint(home_bp)
    app.register_blueprint(health_bp)
    return app
