"""The API blueprints: ``/api/v1`` (token authenticated, rate limited per token) and the
public document and docs page; their request hooks and registration on the app.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, g, request
from flask.wrappers import Response
from flask_limiter import Limiter

from billhive.logs import get_logger
from billhive.platform.api.auth import (
    authenticate_request,
    init_token_cache,
    rate_limit_key,
    token_id_or_none,
)
from billhive.platform.api.errors import register_error_handlers
from billhive.platform.api.ratelimit import TokenRateLimit

#: Requests per token (``limits`` syntax); ``API_RATE_LIMIT`` in the app config wins.
DEFAULT_RATE_LIMIT = "100 per second;3000 per minute"
CONFIG_RATE_LIMIT = "API_RATE_LIMIT"
_RATE_LIMIT_EXTENSION = "billhive_api_rate_limit"
API_PREFIX = "/api/v1"

log = get_logger("billhive.api")

bp = Blueprint("api", __name__, url_prefix=API_PREFIX)
#: The OpenAPI document and its docs page: no token needed, no rate limit per token.
public_bp = Blueprint("api_public", __name__)

register_error_handlers(bp)
register_error_handlers(public_bp)


@bp.before_request
def _authenticate() -> None:
    g.api_started = time.perf_counter()
    # Counted before the token is checked: a flood of bad tokens is limited too.
    rate_limit: TokenRateLimit = current_app.extensions[_RATE_LIMIT_EXTENSION]
    rate_limit.check(_rate_limit(), rate_limit_key())
    authenticate_request()


@bp.after_request
def _log_request(response: Response) -> Response:
    started = g.get("api_started")
    log.info(
        "api_request",
        token_id=token_id_or_none(),
        method=request.method,
        path=request.path,
        status=response.status_code,
        ms=round((time.perf_counter() - started) * 1000, 1) if started else None,
    )
    return response


def _rate_limit() -> str:
    limit: str = current_app.config.get(CONFIG_RATE_LIMIT) or DEFAULT_RATE_LIMIT
    return limit


def _is_api_request() -> bool:
    return request.blueprint in (bp.name, public_bp.name)


def init_app(app: Flask, limiter: Limiter) -> None:
    """Register the API on ``app``: routes, per-token rate limit, CSRF exemption."""
    # Imported for their routes on the blueprints.
    from billhive.platform.api import (  # noqa: F401
        callbacks_views,
        calls_views,
        costs_views,
        docs_views,
        tenants_views,
    )

    app.config.setdefault(CONFIG_RATE_LIMIT, DEFAULT_RATE_LIMIT)
    init_token_cache(app)
    # Counted on the limiter's storage (app Redis), by the API itself (see ratelimit.py);
    # Flask-Limiter's own evaluation skips the API's requests.
    app.extensions[_RATE_LIMIT_EXTENSION] = TokenRateLimit(limiter.storage)
    limiter.request_filter(_is_api_request)
    csrf = app.extensions["csrf"]
    csrf.exempt(bp)
    csrf.exempt(public_bp)
    app.register_blueprint(bp)
    app.register_blueprint(public_bp)
