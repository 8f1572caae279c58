"""The billhive web app: :func:`create_app` builds it; nothing is created at import."""

from billhive.platform.app import create_app

__all__ = ["create_app"]
