"""The app's vault for the dashboard: the app-wide one of :mod:`billhive.platform.extensions`."""

from __future__ import annotations

from billhive.platform.extensions import vault

__all__ = ["vault"]
