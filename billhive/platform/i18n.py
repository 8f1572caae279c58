"""Languages of the web pages: German or English, picked from the browser, with a switch.

Flask-Babel reads the compiled catalogues from ``billhive/platform/translations`` (the
``.po`` and the compiled ``.mo`` are both committed; see docs/signup.md for the commands).
The switch stores the choice in a cookie, so it works without JavaScript and without a
server-side session.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, Flask, redirect, request
from flask.typing import ResponseReturnValue
from flask_babel import Babel, get_locale

#: Languages with a catalogue; the first is the fallback.
LANGUAGES = ("en", "de")
LANGUAGE_NAMES = {"en": "English", "de": "Deutsch"}
LANGUAGE_COOKIE = "billhive_lang"
#: The choice is remembered for a year.
LANGUAGE_COOKIE_MAX_AGE = 365 * 24 * 3600

bp = Blueprint("i18n", __name__)


def select_locale() -> str:
    """The language of this request: the switch's cookie, else the browser's preference."""
    chosen = request.cookies.get(LANGUAGE_COOKIE, "")
    if chosen in LANGUAGES:
        return chosen
    return request.accept_languages.best_match(LANGUAGES, default=LANGUAGES[0]) or LANGUAGES[0]


def current_language() -> str:
    """The two-letter code of the language the current page is rendered in."""
    return str(get_locale() or LANGUAGES[0])


def safe_next(target: str | None) -> str:
    """``target`` if it is a path on this site, else ``/`` (no open redirect)."""
    if not target:
        return "/"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    if "\\" in target or any(ord(c) < 0x20 or ord(c) == 0x7F for c in target):
        return "/"  # a backslash turns into "/" in browsers; control characters end a header
    return target


@bp.get("/language/<code>")
def switch_language(code: str) -> ResponseReturnValue:
    """Remember ``code`` as the visitor's language and go back to the page they came from."""
    response = redirect(safe_next(request.args.get("next")), code=303)
    if code in LANGUAGES:
        response.set_cookie(
            LANGUAGE_COOKIE,
            code,
            max_age=LANGUAGE_COOKIE_MAX_AGE,
            httponly=True,
            samesite="Lax",
            secure=request.is_secure,
        )
    return response


def init_app(app: Flask) -> None:
    """Attach Flask-Babel and the language switch to ``app``."""
    Babel(app, locale_selector=select_locale)
    app.register_blueprint(bp)

    @app.context_processor
    def _languages() -> dict[str, object]:
        return {"languages": LANGUAGE_NAMES, "current_language": current_language}
