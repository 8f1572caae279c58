"""Per-app resources (settings, database, Redis, vault) and per-request access to them."""

from __future__ import annotations

from flask import Flask, current_app, g
from redis import Redis
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import Database
from billhive.redisconn import redis_from_settings
from billhive.tenants.vault import Vault

_KEY = "billhive"


class Resources:
    """What the app holds for its lifetime; Redis is connected on first use."""

    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self._redis: Redis | None = None
        self._vault: Vault | None = None

    @property
    def vault(self) -> Vault:
        """The vault of the app's settings (built on first use: keys are checked then)."""
        if self._vault is None:
            self._vault = Vault.from_settings(self.settings)
        return self._vault

    @property
    def redis(self) -> Redis:
        """The shared Redis client (connection-pooled, thread-safe)."""
        if self._redis is None:
            self._redis = redis_from_settings(self.settings)
        return self._redis


def init_app(app: Flask, settings: Settings, database: Database) -> None:
    """Attach the resources and close the request's session when it ends."""
    app.extensions[_KEY] = Resources(settings, database)

    @app.teardown_appcontext
    def _close_session(_exc: BaseException | None) -> None:
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            session.close()


def resources(app: Flask | None = None) -> Resources:
    """The resources of ``app`` (default: the current app)."""
    target = app or current_app
    found: Resources = target.extensions[_KEY]
    return found


def settings() -> Settings:
    """The current app's settings."""
    return resources().settings


def db_session() -> Session:
    """The request's database session (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = resources().database.sessionmaker()
    session: Session = g.db_session
    return session


def redis() -> Redis:
    """The current app's Redis client."""
    return resources().redis


def vault() -> Vault:
    """The current app's vault (opens tenants' contact e-mails and call payloads)."""
    return resources().vault
