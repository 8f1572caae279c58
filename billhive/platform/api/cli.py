"""``billhive tokens create/list/revoke``: API tokens for the developer API."""

from __future__ import annotations

import click

from billhive.clicontext import CliContext, pass_cli
from billhive.platform.api.tokens import (
    TokenError,
    create_token,
    list_tokens,
    revoke_token,
    scope_of,
)


@click.group()
def tokens() -> None:
    """API tokens: create (shown once), list, revoke."""


@tokens.command("create")
@click.option("--name", required=True, help="What the token is for (e.g. 'warehouse').")
@click.option(
    "--tenant",
    "tenant_ids",
    type=click.IntRange(1),
    multiple=True,
    help="Limit the token to this tenant id (repeat for several; default: every tenant).",
)
@click.option("--read-only", is_flag=True, help="The token may only read.")
@pass_cli
def tokens_create(cli: CliContext, name: str, tenant_ids: tuple[int, ...], read_only: bool) -> None:
    """Create a token and print it once; only its hash is stored."""
    with cli.session() as session:
        try:
            new = create_token(session, name, read_only=read_only, tenant_ids=tenant_ids or None)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from exc
        token_id = new.token.id
    click.echo(new.plaintext)
    click.echo(f"Token {token_id} created. Store it now: it is shown only this once.", err=True)


@tokens.command("list")
@pass_cli
def tokens_list(cli: CliContext) -> None:
    """List tokens: id, public id, name, access, tenants, created, last used, revoked."""
    with cli.session() as session:
        rows = list_tokens(session)
        for token in rows:
            scope = scope_of(session, token)
            tenants = (
                "all" if scope.tenant_ids is None else ",".join(map(str, sorted(scope.tenant_ids)))
            )
            access = "read-only" if token.read_only else "read-write"
            used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
            state = f"revoked {token.revoked_at:%Y-%m-%d %H:%M}" if token.revoked_at else "active"
            click.echo(
                f"{token.id}\t{token.public_id}\t{token.name}\t{access}\ttenants {tenants}\t"
                f"created {token.created_at:%Y-%m-%d %H:%M}\tused {used}\t{state}"
            )
    if not rows:
        click.echo("No tokens.", err=True)


@tokens.command("revoke")
@click.argument("token")
@pass_cli
def tokens_revoke(cli: CliContext, token: str) -> None:
    """Revoke TOKEN (its id or public id); requests with it answer 401 from now on."""
    with cli.session() as session:
        try:
            revoked = revoke_token(session, token)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from exc
        click.echo(f"Token {revoked.id} ({revoked.public_id}) revoked.")
