"""The dashboard's forms. Every POST form carries a CSRF token (Flask-WTF)."""

from __future__ import annotations

from flask_wtf import FlaskForm
from wtforms import (
    EmailField,
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectChoice,
    StringField,
)
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from billhive.platform.validators import no_control_characters
from billhive.workers.budgets import MAX_BUDGET

#: Longest reason an admin may give for an action (it goes into the audit log).
REASON_MAX = 500


class LoginForm(FlaskForm):  # type: ignore[misc]
    """E-mail and password."""

    email = EmailField(
        "E-mail", validators=[DataRequired(), Length(max=254), no_control_characters]
    )
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=256), no_control_characters]
    )
    next = HiddenField()


class CodeForm(FlaskForm):  # type: ignore[misc]
    """A six-digit TOTP code (login's second step, and enrolment)."""

    code = StringField(
        "Code from your authenticator app",
        validators=[DataRequired(), Length(min=6, max=8), no_control_characters],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric"},
    )


class ConfirmForm(FlaskForm):  # type: ignore[misc]
    """A sensitive change: the admin proves it is them with the password or a code."""

    confirmation = PasswordField(
        "Your password or a current code",
        validators=[DataRequired(), Length(max=256), no_control_characters],
        render_kw={"autocomplete": "current-password"},
    )


class ActionForm(FlaskForm):  # type: ignore[misc]
    """Any button that changes something: a CSRF token and an optional reason."""

    reason = StringField(
        "Reason", validators=[Optional(), Length(max=REASON_MAX), no_control_characters]
    )


class DeleteForm(FlaskForm):  # type: ignore[misc]
    """Deleting a tenant: the admin types the tenant's number to confirm."""

    confirm = StringField(
        "Type the tenant's number to confirm",
        validators=[DataRequired(), Length(max=20), no_control_characters],
    )
    reason = StringField(
        "Reason", validators=[Optional(), Length(max=REASON_MAX), no_control_characters]
    )


class BudgetForm(FlaskForm):  # type: ignore[misc]
    """A tenant's monthly call budget: empty for none; soft warns, hard refuses."""

    monthly_call_budget = IntegerField(
        "Billbee calls a month",
        validators=[Optional(), NumberRange(min=1, max=MAX_BUDGET)],
    )
    mode = RadioField(
        "When it is used up",
        choices=[
            SelectChoice("soft", "Soft: warn on the dashboard"),
            SelectChoice("hard", "Hard: refuse new calls (API 429)"),
        ],
        default="soft",
    )
    reason = StringField(
        "Reason", validators=[Optional(), Length(max=REASON_MAX), no_control_characters]
    )
