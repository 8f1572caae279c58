"""Merchant self-signup: the form, reconnect and leave links (see docs/signup.md)."""

from billhive.platform.signup.blueprint import init_app
from billhive.tenants.links import make_leave_url, make_reconnect_url

__all__ = ["init_app", "make_leave_url", "make_reconnect_url"]
