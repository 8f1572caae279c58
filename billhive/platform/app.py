"""The Flask application factory."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask, abort, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFProtect

from billhive import __version__
from billhive.config import Settings, load_settings
from billhive.db import Database
from billhive.platform import extensions, feedhooks, headers, i18n, signup
from billhive.platform.admin import blueprint as admin
from billhive.platform.api import blueprint as api_blueprint
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
    app.before_request(_refuse_oversized)
    headers.init_app(app, settings)
    i18n.init_app(app)
    # Every form POST needs a CSRF token; JSON APIs exempt themselves with
    # ``app.extensions["csrf"].exempt(blueprint)``.
    CSRFProtect(app)
    # One limiter per app; blueprints declare their own limits on it.
    limiter = _rate_limiter(app, settings)
    signup.init_app(app, settings, limiter)
    # The developer JSON API: token authenticated, so exempt from CSRF; limited per token.
    api_blueprint.init_app(app, limiter)
    # Billbee's webhook posts: signed per tenant, so exempt from CSRF; limited per URL.
    feedhooks.init_app(app, settings, limiter)
    app.register_blueprint(home_bp)
    app.register_blueprint(health_bp)
    admin.init_app(app)
    return app


def _refuse_oversized() -> None:
    """413 for every request that announces a body over ``MAX_CONTENT_LENGTH``, whether or
    not its route reads a body (werkzeug enforces the limit only when one is read)."""
    limit = request.max_content_length
    if limit is not None and (request.content_length or 0) > limit:
        abort(413)


#: Prefix of the rate limiter's Redis keys.
RATE_LIMIT_KEY_PREFIX = "billhive-ratelimit"


def _rate_limiter(app: Flask, settings: Settings) -> Limiter:
    """Flask-Limiter on the app's Redis, so every web worker process shares the counts.

    Limits are declared where they apply (the signup blueprint). If Redis is briefly
    unreachable the limiter lets requests through rather than failing them.
    """
    return Limiter(
        get_remote_address,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        strategy="moving-window",
        key_prefix=RATE_LIMIT_KEY_PREFIX,
        swallow_errors=True,
    )
