"""``billhive admin``: create admins, reset a password, lift a lockout."""

from __future__ import annotations

import click

from billhive.config import ConfigError, load_settings
from billhive.db import Database
from billhive.platform.admin import accounts
from billhive.platform.admin.lockout import Lockout
from billhive.redisconn import redis_from_settings


def _database() -> Database:
    try:
        settings = load_settings()
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    return Database(settings.effective_database_url, pool=False)


@click.group()
def admin() -> None:
    """Accounts of the admin dashboard (/admin)."""


@admin.command("create")
@click.option("--email", required=True, help="The admin's e-mail (the login name).")
@click.option(
    "--prompt-password",
    "ask",
    is_flag=True,
    help="Type the password (hidden) instead of getting a generated one.",
)
def create(email: str, ask: bool) -> None:
    """Create an admin; the generated password is printed once."""
    password = (
        click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if ask
        else accounts.generate_password()
    )
    database = _database()
    try:
        with database.session() as session:
            accounts.create_admin(session, email, password)
    except accounts.AdminAccountError as exc:
        raise click.ClickException(str(exc)) from exc
    finally:
        database.dispose()
    click.echo(f"Admin {accounts.normalize_email(email)} created.")
    if not ask:
        click.echo(f"Password (shown once, store it now): {password}")


@admin.command("reset-password")
@click.option("--email", required=True, help="The admin's e-mail.")
def reset_password(email: str) -> None:
    """Give an admin a new generated password (printed once)."""
    password = accounts.generate_password()
    database = _database()
    try:
        with database.session() as session:
            found = accounts.find_admin(session, email)
            if found is None:
                raise click.ClickException(f"There is no admin {email}.")
            accounts.set_password(session, found, password)
    finally:
        database.dispose()
    click.echo(f"New password for {accounts.normalize_email(email)} (shown once): {password}")


@admin.command("unlock")
@click.option("--email", required=True, help="The admin's e-mail.")
def unlock(email: str) -> None:
    """Lift the lock after too many failed logins of an account."""
    try:
        settings = load_settings()
        Lockout(redis_from_settings(settings)).unlock(email)
    except ConfigError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Logins for {accounts.normalize_email(email)} are open again.")
