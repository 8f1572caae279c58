"""The signup blueprint, what its views need (vault, verifier), and its friendly error pages.

The vault and the Billbee verifier are built once per app, on first use, and kept in
``app.extensions``; tests and the benchmark swap the verifier with
:func:`set_verifier` (e.g. one that answers at once).
"""

from __future__ import annotations

from flask import Blueprint, Flask, current_app, g, render_template, request, url_for
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
from billhive.tenants.vault import Vault
from billhive.tenants.verify import Verifier, make_verifier

#: Signup, reconnect and leave POSTs per client address (Flask-Limiter syntax).

_KEY = "billhive.signup"

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


class SignupServices:
    """The collaborators of the signup views, created lazily (no work at app creation)."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._vault: Vault | None = None
        self._verifier: Verifier | None = None

    @property
    def vault(self) -> Vault:
        """The credential vault built from the settings' keyring."""
        if self._vault is None:
            self._vault = Vault.from_settings(self.settings)
        return self._vault

    @property
    def verifier(self) -> Verifier:
        """The one-call Billbee credential check (replaceable with :func:`set_verifier`)."""
        if self._verifier is None:
            self._verifier = make_verifier(self.settings)
        return self._verifier

    @verifier.setter
    def verifier(self, value: Verifier) -> None:
        self._verifier = value


def services(app: Flask | None = None) -> SignupServices:
    """The signup services of ``app`` (default: the current app)."""
    found: SignupServices = (app or current_app).extensions[_KEY]
    return found


def set_verifier(app: Flask, verifier: Verifier) -> None:
    """Replace how ``app`` checks credentials with Billbee (tests, benchmarks)."""
    services(app).verifier = verifier


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
    app.extensions[_KEY] = SignupServices(settings)
    limiter.limit(settings.signup_rate_limit, methods=["POST"])(bp)
    app.register_blueprint(bp)
