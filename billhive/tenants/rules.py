"""Billbee's own rules for an API password and a username, checked before any network call.

Pure functions, no Flask: the signup form, the service and the CLI all use them, and every
broken rule gets its own :class:`Problem` so a form can show each one next to its field.
"""

from __future__ import annotations

from typing import NamedTuple

PASSWORD_MIN_LENGTH = 12
#: The only characters Billbee counts as "special" in an API password.
PASSWORD_SPECIALS = "!@$%^&*+#"  # noqa: S105 (a character class, not a password)
USERNAME_MAX_LENGTH = 254


class Problem(NamedTuple):
    """One broken rule: the form field it belongs to, a stable code and an English message."""

    field: str
    code: str
    message: str


def password_problems(password: str) -> list[Problem]:
    """Every Billbee password rule ``password`` breaks (empty when it is acceptable).

    The messages never quote the password.
    """
    field = "password"
    problems: list[Problem] = []
    if len(password) < PASSWORD_MIN_LENGTH:
        problems.append(
            Problem(
                field,
                "too_short",
                f"The API password must be at least {PASSWORD_MIN_LENGTH} characters long.",
            )
        )
    if not any(c.isupper() for c in password):
        problems.append(
            Problem(field, "no_upper", "The API password needs at least one upper-case letter.")
        )
    if not any(c.islower() for c in password):
        problems.append(
            Problem(field, "no_lower", "The API password needs at least one lower-case letter.")
        )
    if not any(c.isdigit() for c in password):
        problems.append(Problem(field, "no_digit", "The API password needs at least one digit."))
    if not any(c in PASSWORD_SPECIALS for c in password):
        problems.append(
            Problem(
                field,
                "no_special",
                "The API password needs at least one of these special characters: "
                f"{PASSWORD_SPECIALS}",
            )
        )
    if ":" in password:
        problems.append(
            Problem(field, "has_colon", "The API password must not contain a colon (:).")
        )
    return problems


def username_problems(username: str) -> list[Problem]:
    """Every rule the Billbee username breaks, after trimming (empty when acceptable)."""
    field = "username"
    trimmed = username.strip()
    if not trimmed:
        return [Problem(field, "empty", "Enter your Billbee username or login e-mail.")]
    problems: list[Problem] = []
    if len(trimmed) > USERNAME_MAX_LENGTH:
        problems.append(
            Problem(
                field,
                "too_long",
                f"The Billbee username must be at most {USERNAME_MAX_LENGTH} characters long.",
            )
        )
    if ":" in trimmed:
        problems.append(
            Problem(field, "has_colon", "The Billbee username must not contain a colon (:).")
        )
    return problems


def clean_username(username: str) -> str:
    """The username as Billbee receives it: surrounding whitespace removed."""
    return username.strip()


def normalize_username(username: str) -> str:
    """The form a username's blind index is computed from: trimmed and case-folded.

    Billbee logins are e-mail addresses or usernames, compared without regard to case, so
    ``Shop@Example.com`` and ``shop@example.com `` must collide in the duplicate check.
    """
    return username.strip().casefold()
