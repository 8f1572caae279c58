"""Form field checks shared by the signup pages and the admin dashboard."""

from __future__ import annotations

from typing import Any

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms.validators import ValidationError


def no_control_characters(_form: FlaskForm, field: Any) -> None:
    """Refuse NUL, line breaks and other control characters: they break Basic auth and
    headers, and PostgreSQL refuses NUL in text, so they would end as a server error."""
    value = field.data or ""
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise ValidationError(_l("This field must not contain control characters."))
