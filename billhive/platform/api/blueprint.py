"""The API blueprints: ``/api/v1`` (token authenticated, rate limited per token and, for
failed authentications, per client address) and the
public document and docs page; their request hooks and registration on the app.
"""

from __future__ import annotations

import time

from flask import Blueprint, Flask, current_app, g, request
from flask.wrappers import Response
from flask_limiter import Limiter

from billhive.logs import get_logger
from billhive.platform import extensions
from billhive.platform.api.auth import (
    authenticate_request,
    check_method,
    failure_limit_key,
    init_token_cache,
    token_id_or_none,
    token_limit_key,
)
from billhive.platform.api.errors import ApiError, register_error_handlers
from billhive.platform.api.ratelimit import RateLimited, TokenRateLimit

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
    rate_limit: TokenRateLimit = current_app.extensions[_RATE_LIMIT_EXTENSION]
    failures = extensions.settings().api_auth_failure_limit
    address = failure_limit_key()
    try:
        # An address over its failure limit gets no token looked up in the database
        # (a token this process checked moments ago passes without a lookup).
        scope = authenticate_request(lambda: rate_limit.refuse_if_spent(failures, address))
    except RateLimited:
        raise
    except ApiError:
        rate_limit.check(failures, address)  # 429 once this failure is one too many
        raise
    # Counted only for a token that checked out: a public id alone spends no quota.
    rate_limit.check(extensions.settings().api_rate_limit, token_limit_key(scope))
    check_method(scope)


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
        events_views,
        tenants_views,
    )

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
