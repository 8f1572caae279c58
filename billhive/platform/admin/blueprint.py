"""The admin blueprint, its gate and error pages, and how the app registers it."""

from __future__ import annotations

from flask import Blueprint, Flask, Response, render_template
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import CSRFError

from billhive.platform.admin.auth import init_login, require_admin

bp = Blueprint("admin", __name__, url_prefix="/admin")
bp.before_request(require_admin)


@bp.errorhandler(CSRFError)
def _csrf_failed(_exc: CSRFError) -> ResponseReturnValue:
    # A missing or stale token: nothing was changed; the admin reloads and tries again.
    page = render_template(
        "admin/problem.html",
        title="The form has expired",
        message="Nothing was changed. Reload the page and try again.",
    )
    return page, 400


@bp.after_request
def _no_store(response: Response) -> Response:
    # Dashboard pages show tenant data: keep them out of shared and browser caches.
    # Frame protection and the other security headers are app-wide (platform/headers.py).
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    """Register the dashboard, its login handling and ``/metrics`` on ``app``."""
    # Imported for their routes on ``bp``.
    import billhive.platform.admin.actions
    import billhive.platform.admin.audit_views
    import billhive.platform.admin.auth_views
    import billhive.platform.admin.calls_views
    import billhive.platform.admin.overview_views
    import billhive.platform.admin.tenants_views  # noqa: F401
    from billhive.platform.admin.metrics import bp as metrics_bp

    init_login(app)
    app.register_blueprint(bp)
    app.register_blueprint(metrics_bp)
