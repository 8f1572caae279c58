"""The signup blueprint and its friendly error pages.

The vault and the Billbee verifier its views use are the app's
(:mod:`billhive.platform.extensions`); tests and the benchmark swap the verifier with
``extensions.set_verifier`` (e.g. one that answers at once).
"""

from __future__ import annotations

from flask import Blueprint, Flask, g, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from flask_limiter import Limiter
from flask_wtf.csrf import CSRFError, validate_csrf
from werkzeug.exceptions import RequestEntityTooLarge, TooManyRequests
from wtforms import ValidationError

from billhive.config import Settings
from billhive.platform.signup.forms import (
    DISPLAY_NAME_MAX,
    EMAIL_MAX,
    PASSWORD_MAX,
    USERNAME_MAX,
)

#: Signup, reconnect and leave POSTs per client address (Flask-Limiter syntax).


bp = Blueprint(
    "signup",
    __name__,
    url_prefix="/signup",
    static_folder="static",
    static_url_path="/static",
)

#: ``maxlength`` of each input, the same bounds the form validators enforce.
FIELD_LIMITS = {
    "display_name": DISPLAY_NAME_MAX,
    "contact_email": EMAIL_MAX,
    "billbee_username": USERNAME_MAX,
    "api_password": PASSWORD_MAX,
}


#: A rendered page and its HTTP status.
Page = tuple[str, int]


def render_problem(status: int, title: str, message: str, *, back: bool = True) -> Page:
    """A friendly page for a refused request, in the visitor's language."""
    link = url_for("signup.form") if back else None
    page = render_template("signup/problem.html", title=title, message=message, back=link)
    return page, status


@bp.errorhandler(CSRFError)
def _csrf_failed(_exc: CSRFError) -> ResponseReturnValue:
    # A missing or stale token: usually a form left open too long, or cookies blocked.
    return render_problem(
        400,
        _("The form has expired"),
        _(
            "For your safety every form is valid only for a while. Please reload the page "
            "and send it again."
        ),
    )


@bp.errorhandler(TooManyRequests)
def _too_many(_exc: TooManyRequests) -> ResponseReturnValue:
    return render_problem(
        429,
        _("Too many attempts"),
        _(
            "You have sent this form too often from your address. Please wait a few minutes "
            "and try again."
        ),
    )


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(_exc: RequestEntityTooLarge) -> ResponseReturnValue:
    return render_problem(
        413,
        _("That was too much"),
        _(
            "The form you sent is far larger than any real signup. Please check what you "
            "entered and try again."
        ),
    )


#: The link pages (their URL is the secret): CSRF-checked by :func:`protect_link_post`.
LINK_VIEWS = (
    "billhive.platform.signup.reconnect.reconnect_page",
    "billhive.platform.signup.leave.leave_page",
)


def protect_link_post() -> None:
    """CSRF protection of a link page's POST: the form's token, as everywhere else.

    Link pages send ``Referrer-Policy: no-referrer`` (their URL is a secret), so their own
    form posts carry no Referer, and Flask-WTF's https check that a Referer names this
    host would refuse every one of them. The app-wide check is switched off for these two
    views only; the token still has to match the session, and the link itself is an
    unguessable secret that a forged cross-site form would have to know.
    """
    if request.method != "POST":
        return
    try:
        validate_csrf(request.form.get("csrf_token"))
    except ValidationError as exc:
        raise CSRFError(exc.args[0]) from None
    g.csrf_valid = True


def init_app(app: Flask, settings: Settings, limiter: Limiter) -> None:
    """Register the signup pages on ``app`` with their rate limit."""
    # Imported for their routes on ``bp``.
    from billhive.platform.signup import leave, reconnect, views  # noqa: F401

    for view in LINK_VIEWS:
        app.extensions["csrf"].exempt(view)
    limiter.limit(settings.signup_rate_limit, methods=["POST"])(bp)
    app.register_blueprint(bp)
