"""The signup, reconnect and leave forms (Flask-WTF: every form carries a CSRF token).

Field checks here are the shape of the input (required, length, e-mail syntax, no control
characters); Billbee's own password and username rules come from
:mod:`billhive.tenants.rules` and are shown with :func:`add_rule_problems`, each broken rule
as its own message next to its field.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, InputRequired, Length

from billhive.platform.validators import no_control_characters
from billhive.tenants.rules import PASSWORD_MIN_LENGTH, PASSWORD_SPECIALS, Problem

DISPLAY_NAME_MAX = 200
EMAIL_MAX = 254
USERNAME_MAX = 254
#: Billbee publishes no upper bound; anything longer than this is not a real API password.
PASSWORD_MAX = 256

#: Where each rule problem's field is shown in the forms (others use their own name).
_FIELD_OF_PROBLEM = {"username": "billbee_username", "password": "api_password"}


def _strip(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def _too_long(limit: int) -> Length:
    return Length(max=limit, message=_l("At most %(max)d characters, please.", max=limit))


class SignupForm(FlaskForm):  # type: ignore[misc]
    """Everything a merchant enters to connect their Billbee account."""

    display_name = StringField(
        _l("Shop or company name"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter the name we should show for your shop.")),
            _too_long(DISPLAY_NAME_MAX),
            no_control_characters,
        ],
    )
    contact_email = EmailField(
        _l("Contact e-mail"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Enter an e-mail address where we can reach you.")),
            _too_long(EMAIL_MAX),
            Email(_l("This is not a valid e-mail address."), check_deliverability=False),
        ],
    )
    billbee_username = StringField(
        _l("Billbee username"),
        validators=[_too_long(USERNAME_MAX), no_control_characters],
    )
    api_password = PasswordField(
        _l("Billbee API password"),
        validators=[_too_long(PASSWORD_MAX), no_control_characters],
    )
    invoice_creation_allowed = BooleanField(_l("I allowed invoice creation via the API"))
    consent = BooleanField(
        _l("I agree that billhive stores my Billbee username and API password encrypted"),
        validators=[DataRequired(_l("We can only connect your account with your consent."))],
    )


class ReconnectForm(FlaskForm):  # type: ignore[misc]
    """A new API password for a tenant whose credentials Billbee no longer accepts."""

    api_password = PasswordField(
        _l("New Billbee API password"),
        validators=[_too_long(PASSWORD_MAX), no_control_characters],
    )
    #: The merchant confirms (or withdraws) invoice creation via the API, e.g. after Billbee
    #: refused an invoice and billhive recorded it as not allowed.
    invoice_creation_allowed = BooleanField(_l("I allowed invoice creation via the API"))


class LeaveForm(FlaskForm):  # type: ignore[misc]
    """The confirmation step before a tenant's credentials are destroyed (CSRF only)."""


def _rule_message(problem: Problem) -> Any:
    """The translated message for one broken Billbee rule (English text as a fallback)."""
    messages: dict[tuple[str, str], Any] = {
        ("password", "too_short"): _l("At least %(n)d characters.", n=PASSWORD_MIN_LENGTH),
        ("password", "no_upper"): _l("At least one upper-case letter (A-Z)."),
        ("password", "no_lower"): _l("At least one lower-case letter (a-z)."),
        ("password", "no_digit"): _l("At least one digit (0-9)."),
        ("password", "no_special"): _l(
            "At least one of these special characters: %(chars)s", chars=PASSWORD_SPECIALS
        ),
        ("password", "has_colon"): _l("No colon (:) anywhere."),
        ("username", "empty"): _l("Enter your Billbee username or login e-mail."),
        ("username", "too_long"): _l("At most %(max)d characters, please.", max=USERNAME_MAX),
        ("username", "has_colon"): _l("The username must not contain a colon (:)."),
    }
    return messages.get((problem.field, problem.code), problem.message)


def add_rule_problems(form: FlaskForm, problems: Iterable[Problem]) -> int:
    """Show each broken rule next to its field; return how many were added.

    A field that already failed a shape check (too long, control characters) keeps only
    that message: rules about a value that cannot be right anyway would only add noise.
    """
    already_failed = {name for name, field in form._fields.items() if field.errors}
    added = 0
    for problem in problems:
        name = _FIELD_OF_PROBLEM.get(problem.field, problem.field)
        field = form._fields.get(name)
        if field is None or name in already_failed:
            continue
        field.errors = [*field.errors, _rule_message(problem)]
        added += 1
    return added
