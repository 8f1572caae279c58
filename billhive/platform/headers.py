"""Security headers on every response of the web app.

* ``Content-Security-Policy``: scripts, styles, images, fonts and fetches from this origin
  only, no inline script or style, no plugins, no ``<base>``, forms post back here only,
  and no page may be framed. The pages were written for it: the one script is a file
  (``admin.js``), the charts are SVG with presentation attributes, not inline styles.
* ``X-Frame-Options: DENY`` for browsers older than ``frame-ancestors``.
* ``X-Content-Type-Options: nosniff``.
* ``Referrer-Policy``: ``no-referrer`` on pages whose URL is a secret (reconnect and leave
  links), ``same-origin`` elsewhere: no other site ever sees a URL of ours, while our own
  form posts keep the Referer that CSRF protection over https checks.
* ``Strict-Transport-Security`` in production (the public URL is https there).
"""

from __future__ import annotations

from flask import Flask, request
from flask.wrappers import Response

from billhive.config import Settings

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)
#: One year; browsers then refuse plain http to this host for that long.
HSTS = "max-age=31536000"
#: Endpoints whose URL carries a bearer secret (a signed link).
SECRET_URL_ENDPOINTS = frozenset({"signup.reconnect_page", "signup.leave_page"})


def init_app(app: Flask, settings: Settings) -> None:
    """Add the security headers to every response of ``app``."""
    production = settings.env == "production"

    @app.after_request
    def _security_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("Content-Security-Policy", CONTENT_SECURITY_POLICY)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        secret_url = request.endpoint in SECRET_URL_ENDPOINTS
        headers["Referrer-Policy"] = "no-referrer" if secret_url else "same-origin"
        if production:
            headers.setdefault("Strict-Transport-Security", HSTS)
        return response
