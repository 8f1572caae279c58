"""The one context every ``billhive`` sub-command gets (in the manner of rq's
``pass_cli_config``): settings, logging, the database, Redis and the vault, each made on
first use, once per command, and closed when the command ends.

Loading settings configures logging, so no sub-command can forget to; a setting that does
not parse, or a vault key that cannot be read, ends the command with the problem named
(``click.ClickException``), never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import click
from redis import Redis
from sqlalchemy.orm import Session

from billhive.config import ConfigError, Settings, load_settings
from billhive.db import Database
from billhive.logs import configure_logging
from billhive.redisconn import redis_from_settings
from billhive.tenants.errors import TenantError
from billhive.tenants.vault import Vault


class CliContext:
    """Settings and connections of one command-line invocation, made lazily."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._database: Database | None = None
        self._redis: Redis | None = None
        self._vault: Vault | None = None
        self._closing = False

    @property
    def settings(self) -> Settings:
        """The settings (loaded once; logging configured from them)."""
        if self._settings is None:
            try:
                self._settings = load_settings()
            except ConfigError as exc:
                raise click.ClickException(str(exc)) from exc
            configure_logging(self._settings.log_level, json=self._settings.log_json)
        return self._settings

    @property
    def database(self) -> Database:
        """The database, without a pool (a command makes few, short sessions)."""
        if self._database is None:
            self._database = Database(self.settings.effective_database_url, pool=False)
            self._close_with_command()
        return self._database

    @property
    def redis(self) -> Redis:
        """A Redis client on ``BILLHIVE_REDIS_URL``."""
        if self._redis is None:
            self._redis = redis_from_settings(self.settings)
            self._close_with_command()
        return self._redis

    @property
    def vault(self) -> Vault:
        """The vault of the configured keys."""
        if self._vault is None:
            try:
                self._vault = Vault.from_settings(self.settings)
            except (TenantError, ConfigError) as exc:
                raise click.ClickException(str(exc)) from exc
        return self._vault

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A database session for one unit of work."""
        with self.database.session() as session:
            yield session

    def close(self) -> None:
        """Release the connections (called when the command ends)."""
        if self._database is not None:
            self._database.dispose()
            self._database = None
        if self._redis is not None:
            self._redis.close()
            self._redis = None

    def _close_with_command(self) -> None:
        if self._closing:
            return
        current = click.get_current_context(silent=True)
        if current is not None:
            current.find_root().call_on_close(self.close)
            self._closing = True


#: ``@pass_cli`` hands a command the invocation's :class:`CliContext`.
pass_cli = click.make_pass_decorator(CliContext, ensure=True)
