"""``billhive vault ...`` and ``billhive tenants ...``: key management and tenant admin."""

from __future__ import annotations

import secrets
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import click
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.clicontext import CliContext, pass_cli
from billhive.config import Settings, new_key_b64
from billhive.tenants.audit import ACTOR_CLI
from billhive.tenants.contact import contact_emails
from billhive.tenants.errors import TenantError
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.rotation import (
    DEFAULT_BATCH_SIZE,
    EXTRA_SEALED_META,
    ExtraSealed,
    key_counts,
    rotate,
)
from billhive.tenants.service import delete_tenant
from billhive.tenants.vault import Vault

#: ``click`` context meta key: what to run before a tenant's credentials are shredded
#: (``hook(session, settings, vault, tenant_id)``, e.g. removing its Billbee webhook),
#: listed by the entry point since the tenants package may not import those parts.
BEFORE_DELETE_META = "billhive.tenants.before_delete"
BeforeDelete = Callable[[Session, Settings, Vault, int], object]

# -- vault -------------------------------------------------------------------------


@click.group()
def vault() -> None:
    """The credential vault: keys, status, rotation."""


@vault.command("new-key")
@click.option("--id", "key_id", default=None, help="Key id (default: k<date>-<random>).")
def vault_new_key(key_id: str | None) -> None:
    """Print a new keyring entry `id:base64key` to put FIRST in BILLHIVE_VAULT_KEYS."""
    key_id = key_id or f"k{datetime.now(UTC):%Y%m%d}-{secrets.token_hex(2)}"
    if ":" in key_id or "," in key_id or not key_id.strip():
        raise click.BadParameter(
            "a key id may not be empty or contain ':' or ','", param_hint="--id"
        )
    click.echo(f"{key_id}:{new_key_b64()}")
    click.echo(
        "Put this entry first in BILLHIVE_VAULT_KEYS (keep the old ones after it), restart, "
        "then run `billhive vault rotate`.",
        err=True,
    )


def _extra_sealed() -> tuple[ExtraSealed, ...]:
    """Other secrets the vault keys seal, as the command line's entry point listed them."""
    found: tuple[ExtraSealed, ...] = click.get_current_context().meta.get(EXTRA_SEALED_META, ())
    return found


@vault.command("status")
@pass_cli
def vault_status(cli: CliContext) -> None:
    """Count the data keys (and other secrets) each vault key seals; flag missing ids."""
    keyring = cli.vault.keyring
    with cli.session() as session:
        counts = key_counts(session)
        extra = [(e.label, dict(e.key_counts(session))) for e in _extra_sealed()]
    click.echo(f"active key: {keyring.active_id}")
    every_id = [*keyring.ids, *counts, *(k for _label, c in extra for k in c)]
    for key_id in dict.fromkeys(every_id):
        notes = []
        if key_id == keyring.active_id:
            notes.append("active")
        if key_id not in keyring.ids:
            notes.append("MISSING from BILLHIVE_VAULT_KEYS")
        suffix = f"  ({', '.join(notes)})" if notes else ""
        others = "".join(f", {c.get(key_id, 0)} {label}" for label, c in extra)
        click.echo(f"{key_id}: {counts.get(key_id, 0)} wrapped data keys{others}{suffix}")
    every_count = [counts, *(c for _label, c in extra)]
    stale = sum(n for c in every_count for k, n in c.items() if k != keyring.active_id)
    click.echo(f"to rotate: {stale}")


@vault.command("rotate")
@click.option("--batch-size", type=click.IntRange(1, 100_000), default=DEFAULT_BATCH_SIZE)
@pass_cli
def vault_rotate(cli: CliContext, batch_size: int) -> None:
    """Re-wrap every data key under the active key (resumable, idempotent)."""
    the_vault, database = cli.vault, cli.database
    started = time.monotonic()
    state = {"done": 0}

    def rate_and_count(_: object) -> str:
        elapsed = max(time.monotonic() - started, 1e-6)
        return f"{state['done'] / elapsed:,.0f} keys/s"

    with click.progressbar(
        length=1,
        label=f"Re-wrapping under {the_vault.keyring.active_id}",
        show_pos=True,
        show_eta=True,
        item_show_func=rate_and_count,
        file=sys.stderr,
    ) as bar:

        def progress(done: int, total: int) -> None:
            bar.length = max(total, 1)
            bar.update(done - state["done"])
            state["done"] = done

        try:
            result = rotate(database, the_vault, batch_size=batch_size, progress=progress)
            with database.session() as session:
                others = [(e.label, e.rotate(session, the_vault)) for e in _extra_sealed()]
        except TenantError as exc:
            raise click.ClickException(str(exc)) from exc
    rate = result.rewrapped / result.seconds if result.seconds else 0.0
    click.echo(
        f"Re-wrapped {result.rewrapped} data keys under {the_vault.keyring.active_id} "
        f"in {result.seconds:.1f} s ({rate:,.0f}/s)."
    )
    for label, count in others:
        click.echo(f"Re-sealed {count} {label} under {the_vault.keyring.active_id}.")


# -- tenants -----------------------------------------------------------------------


@click.group()
def tenants() -> None:
    """Merchants: list, reconnect links, deletion."""


@tenants.command("list")
@click.option(
    "--status",
    type=click.Choice([s.value for s in TenantStatus]),
    default=None,
    help="Only tenants in this status.",
)
@pass_cli
def tenants_list(cli: CliContext, status: str | None) -> None:
    """List tenants (id, status, name, contact); usernames are sealed and never shown."""
    query = select(Tenant).order_by(Tenant.id)
    if status:
        query = query.where(Tenant.status == TenantStatus(status))
    with cli.session() as session:
        rows = session.scalars(query).all()
        emails = contact_emails(session, cli.vault, rows)
        for t in rows:
            verified = f"{t.verified_at:%Y-%m-%d %H:%M}" if t.verified_at else "-"
            click.echo(
                f"{t.id}\t{t.status.value}\t{t.display_name}\t{emails[t.id]}\tverified {verified}"
            )
    if not rows:
        click.echo("No tenants.", err=True)


@tenants.command("reconnect-link")
@click.argument("tenant_id", type=int)
@pass_cli
def tenants_reconnect_link(cli: CliContext, tenant_id: int) -> None:
    """Print a signed, expiring, single-use link where the merchant enters a new API
    password; older reconnect links of the tenant stop working."""
    from billhive.tenants.links import make_reconnect_url

    with cli.session() as session:
        try:
            url = make_reconnect_url(session, cli.settings, tenant_id)
        except TenantError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(url)


@tenants.command("delete")
@click.argument("tenant_id", type=int)
@click.option("--reason", required=True, help="Why (written to the audit log).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_cli
def tenants_delete(cli: CliContext, tenant_id: int, reason: str, yes: bool) -> None:
    """Crypto-shred a tenant's credentials and mark it deleted (cannot be undone)."""
    if not yes:
        click.confirm(
            f"Destroy the credentials of tenant {tenant_id} for good?", abort=True, err=True
        )
    hooks: tuple[BeforeDelete, ...] = click.get_current_context().meta.get(BEFORE_DELETE_META, ())
    with cli.session() as session:
        try:
            if session.get(Tenant, tenant_id) is not None:
                for hook in hooks:
                    hook(session, cli.settings, cli.vault, tenant_id)
            delete_tenant(session, tenant_id, actor=ACTOR_CLI, reason=reason)
        except TenantError as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"Tenant {tenant_id} deleted; its credentials are destroyed.")
