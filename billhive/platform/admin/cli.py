"""``billhive admin``: create admins, reset a password, lift a lockout."""

from __future__ import annotations

import click

from billhive.clicontext import CliContext, pass_cli
from billhive.platform.admin import accounts
from billhive.platform.admin.lockout import Lockout


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
@pass_cli
def create(cli: CliContext, email: str, ask: bool) -> None:
    """Create an admin; the generated password is printed once."""
    password = (
        click.prompt("Password", hide_input=True, confirmation_prompt=True)
        if ask
        else accounts.generate_password()
    )
    try:
        with cli.session() as session:
            accounts.create_admin(session, email, password)
    except accounts.AdminAccountError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Admin {accounts.normalize_email(email)} created.")
    if not ask:
        click.echo(f"Password (shown once, store it now): {password}")


@admin.command("reset-password")
@click.option("--email", required=True, help="The admin's e-mail.")
@pass_cli
def reset_password(cli: CliContext, email: str) -> None:
    """Give an admin a new generated password (printed once)."""
    password = accounts.generate_password()
    with cli.session() as session:
        found = accounts.find_admin(session, email)
        if found is None:
            raise click.ClickException(f"There is no admin {email}.")
        accounts.set_password(session, found, password)
    click.echo(f"New password for {accounts.normalize_email(email)} (shown once): {password}")


@admin.command("unlock")
@click.option("--email", required=True, help="The admin's e-mail.")
@pass_cli
def unlock(cli: CliContext, email: str) -> None:
    """Lift the lock after too many failed logins of an account."""
    Lockout(cli.redis).unlock(email)
    click.echo(f"Logins for {accounts.normalize_email(email)} are open again.")
