"""The landing page."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue

bp = Blueprint("home", __name__)


@bp.get("/")
def index() -> ResponseReturnValue:
    """What billhive is, and where merchants and operators go next."""
    return render_template("home.html")
