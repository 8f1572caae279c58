"""``billhive feeds on/off/list/backlog``: switch tenants' change feeds from the command
line, list them, show the fetches' backlog."""

from __future__ import annotations

from datetime import datetime

import click
from sqlalchemy import select

from billhive.clicontext import CliContext, pass_cli
from billhive.db import utcnow
from billhive.feeds import backlog, service
from billhive.feeds.models import Feed, Resource
from billhive.feeds.schedule import is_triggered
from billhive.tenants.models import Tenant, TenantStatus

_RESOURCES = click.Choice([r.value for r in Resource])


@click.group()
def feeds() -> None:
    """Change feeds: switch a tenant's feeds on or off, list them."""


def _tenant(session_tenant: Tenant | None, tenant_id: int) -> Tenant:
    if session_tenant is None:
        raise click.ClickException(f"no tenant {tenant_id}")
    if session_tenant.status is TenantStatus.DELETED:
        raise click.ClickException(f"tenant {tenant_id} is deleted; it has no feeds")
    return session_tenant


def _resources(names: tuple[str, ...]) -> list[Resource]:
    return service.parse_resources(names) if names else list(service.ALL_RESOURCES)


@feeds.command("on")
@click.argument("tenant_id", type=click.IntRange(1))
@click.option(
    "--resource",
    "names",
    type=_RESOURCES,
    multiple=True,
    help="A resource to follow (repeat for several; default: all).",
)
@pass_cli
def feeds_on(cli: CliContext, tenant_id: int, names: tuple[str, ...]) -> None:
    """Switch TENANT_ID's feeds on (all resources unless --resource names some)."""
    with cli.session() as session:
        tenant = _tenant(session.get(Tenant, tenant_id), tenant_id)
        found = service.change(session, tenant.id, on=_resources(names))
        on = ", ".join(f.resource.value for f in found if f.enabled)
    click.echo(f"Tenant {tenant_id}: feeds on: {on or 'none'}")


@feeds.command("off")
@click.argument("tenant_id", type=click.IntRange(1))
@click.option(
    "--resource",
    "names",
    type=_RESOURCES,
    multiple=True,
    help="A resource to stop following (repeat for several; default: all).",
)
@pass_cli
def feeds_off(cli: CliContext, tenant_id: int, names: tuple[str, ...]) -> None:
    """Switch TENANT_ID's feeds off (all resources unless --resource names some)."""
    with cli.session() as session:
        tenant = _tenant(session.get(Tenant, tenant_id), tenant_id)
        found = service.change(session, tenant.id, off=_resources(names))
        on = ", ".join(f.resource.value for f in found if f.enabled)
    click.echo(f"Tenant {tenant_id}: feeds on: {on or 'none'}")


@feeds.command("list")
@click.option("--tenant", "tenant_id", type=click.IntRange(1), default=None, help="Only this one.")
@pass_cli
def feeds_list(cli: CliContext, tenant_id: int | None) -> None:
    """List feeds: tenant, resource, on/off, last poll, last change, next poll."""
    with cli.session() as session:
        query = select(Feed).order_by(Feed.tenant_id, Feed.id)
        if tenant_id is not None:
            query = query.where(Feed.tenant_id == tenant_id)
        rows = list(session.scalars(query))
        now = utcnow()
        for feed in rows:
            state = "on" if feed.enabled else "off"
            click.echo(
                f"{feed.tenant_id}\t{feed.resource.value}\t{state}\t"
                f"polled {_when(feed.last_polled_at)}\tchanged {_when(feed.last_change_at)}\t"
                f"next {'now (webhook)' if is_triggered(feed, now) else _when(feed.next_poll_at)}"
            )
    if not rows:
        click.echo("No feeds.", err=True)


@feeds.command("backlog")
@pass_cli
def feeds_backlog(cli: CliContext) -> None:
    """Fetches waiting for the feeds' share of the key, the oldest wait, and the share
    that would keep up (as the poller last measured them)."""
    found = backlog.read(cli.redis)
    if found is None:
        raise click.ClickException("no backlog figures: is `billhive scheduler` running?")
    cap = cli.settings.feed_key_share
    state = "backlogged" if found.backlogged else "keeping up"
    click.echo(
        f"{state}: {found.waiting} fetches waiting ({found.triggered} triggered by webhooks), "
        f"oldest {found.oldest_wait_seconds:.0f} s; demand {found.demand_per_second:.2f}/s "
        f"needs a share of {found.needed_share:.3f} (BILLHIVE_FEED_KEY_SHARE={cap:g})"
    )


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S}" if moment else "never"
