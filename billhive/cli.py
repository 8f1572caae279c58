"""The ``billhive`` command line: dev, web, worker, scheduler, sandbox, db, ..."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from billhive import __version__
from billhive.clicontext import CliContext, pass_cli
from billhive.config import ensure_dev_secrets


@click.group()
@click.version_option(__version__, prog_name="billhive")
@click.pass_context
def main(ctx: click.Context) -> None:
    """billhive: one Billbee developer key, many merchants."""
    ctx.ensure_object(CliContext)
    # Secrets outside the tenants' vault rows that `billhive vault` must rotate too; listed
    # here, where every part is known, since the tenants package may not import the admin.
    from billhive.feeds.receiver import SealedWebhookSecrets
    from billhive.feeds.webhooks import remove_now
    from billhive.platform.admin.totp import SealedTotpSecrets
    from billhive.tenants.cli import BEFORE_DELETE_META
    from billhive.tenants.rotation import EXTRA_SEALED_META

    ctx.meta[EXTRA_SEALED_META] = (SealedTotpSecrets(), SealedWebhookSecrets())
    # Before `tenants delete` shreds the credentials: remove the tenant's Billbee webhook.
    ctx.meta[BEFORE_DELETE_META] = (remove_now,)


# -- the processes -------------------------------------------------------------------


@main.command()
@click.option("--stream/--no-stream", default=True, help="Keep demo calls flowing (sandbox only).")
def dev(stream: bool) -> None:
    """Run the whole platform locally on embedded defaults (what `make run` runs)."""
    from billhive.dev.run import run_dev

    sys.exit(run_dev(stream=stream))


@main.command()
@click.option("--host", default=None, help="Bind address [BILLHIVE_WEB_HOST].")
@click.option("--port", type=int, default=None, help="Port [BILLHIVE_WEB_PORT].")
@click.option("--workers", type=int, default=None, help="gunicorn workers [BILLHIVE_WEB_WORKERS].")
@pass_cli
def web(cli: CliContext, host: str | None, port: int | None, workers: int | None) -> None:
    """Serve the web app (signup, admin, JSON API) under gunicorn."""
    from billhive.platform import create_app
    from billhive.webserver import serve

    settings = cli.settings
    serve(
        lambda: create_app(settings),
        host or settings.web_host,
        port or settings.web_port,
        workers or settings.web_workers,
    )


@main.command()
@click.option("--burst", is_flag=True, help="Stop when no work is left.")
@click.option(
    "--concurrency",
    type=click.IntRange(1, 256),
    default=None,
    help="Worker processes [BILLHIVE_WORKER_CONCURRENCY].",
)
@click.option("--fork", is_flag=True, help="Fork a work horse per job (RQ's classic mode).")
@pass_cli
def worker(cli: CliContext, burst: bool, concurrency: int | None, fork: bool) -> None:
    """Run workers that execute Billbee calls for every tenant, within Billbee's limits."""
    from billhive.workers.process import run_worker

    settings = cli.settings
    run_worker(
        settings,
        burst=burst,
        concurrency=concurrency or settings.worker_concurrency,
        fork=fork,
    )


@main.command()
@pass_cli
def scheduler(cli: CliContext) -> None:
    """Run RQ's cron scheduler with billhive's periodic jobs."""
    from billhive.delivery.cron import register_cron as register_delivery_jobs
    from billhive.feeds.cron import register_cron as register_feed_jobs
    from billhive.workers.cron import run_cron

    run_cron(cli.settings, extra=[register_delivery_jobs, register_feed_jobs])


@main.command()
@click.option("--host", default=None, help="Bind address [BILLHIVE_SANDBOX_HOST].")
@click.option("--port", type=int, default=None, help="Port [BILLHIVE_SANDBOX_PORT].")
@click.option("--workers", type=int, default=1, help="gunicorn workers (state is per process).")
@click.option(
    "--threads",
    type=click.IntRange(1, 1024),
    default=32,
    help="Threads per worker: requests answered at once (latency sleeps hold one each).",
)
@click.option(
    "--seed",
    "seed_file",
    type=click.Path(dir_okay=False),
    default=None,
    help="JSON file of API keys and accounts [BILLHIVE_SANDBOX_SEED_FILE].",
)
@click.option("--demo/--no-demo", default=True, help="Seed the demo merchants (`sandbox-seed`).")
@click.option("--no-throttle", is_flag=True, help="Switch Billbee's rate limits off.")
@click.option("--omit-retry-after", is_flag=True, help="Answer 429 without a Retry-After header.")
@click.option("--latency", default=None, help="Added latency: MS or lognormal:MEDIAN_MS[:SIGMA].")
@click.option(
    "--state-file",
    type=click.Path(dir_okay=False),
    default=None,
    help="Keep the accounts' data in this JSON file across restarts.",
)
@click.option(
    "--max-stock-batch",
    type=click.IntRange(1, 10_000),
    default=None,
    help="Most entries one updatestockmultiple accepts [100].",
)
@pass_cli
def sandbox(
    cli: CliContext,
    *,
    host: str | None,
    port: int | None,
    workers: int,
    threads: int,
    seed_file: str | None,
    demo: bool,
    no_throttle: bool,
    omit_retry_after: bool,
    latency: str | None,
    state_file: str | None,
    max_stock_batch: int | None,
) -> None:
    """Serve the local Billbee sandbox under /api/v1 (see docs/sandbox.md)."""

    from billhive.sandbox import SeedError, create_sandbox_app, demo_accounts
    from billhive.sandbox.faults import KnobError, LatencySpec
    from billhive.webserver import serve

    settings = cli.settings
    keys = [k.strip() for k in settings.sandbox_api_keys.split(",") if k.strip()]
    try:
        latency_spec = LatencySpec.parse(latency) if latency else None
    except KnobError as exc:
        raise click.BadParameter(str(exc), param_hint="--latency") from exc

    try:
        # Built once, here: a bad seed file is reported before gunicorn starts, and the
        # workers fork with the accounts already seeded (the app holds no connections).
        app = create_sandbox_app(
            api_keys=keys,
            accounts=demo_accounts() if demo else [],
            seed_file=seed_file or settings.sandbox_seed_file or None,
            throttle=not no_throttle,
            send_retry_after=not omit_retry_after,
            latency=latency_spec,
            max_stock_batch=max_stock_batch or settings.stock_batch_size,
            # The platform's caps, so what billhive sends the sandbox takes.
            bulk_caps=settings.bulk_max_items,
            state_file=state_file,
        )
    except SeedError as exc:
        raise click.ClickException(str(exc)) from exc
    serve(
        lambda: app,
        host or settings.sandbox_host,
        port or settings.sandbox_port,
        workers,
        threads=threads,
    )


@main.command("sandbox-seed")
@pass_cli
def sandbox_seed(cli: CliContext) -> None:
    """Print a sandbox seed file with the demo merchants (a template for --seed)."""
    import json

    from billhive.sandbox.accounts import DEMO_ACCOUNTS

    keys = [k.strip() for k in cli.settings.sandbox_api_keys.split(",") if k.strip()]
    click.echo(json.dumps({"api_keys": keys, "accounts": list(DEMO_ACCOUNTS)}, indent=2))


# -- database ------------------------------------------------------------------------


@main.group()
def db() -> None:
    """Database schema (Alembic)."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_cli
def db_upgrade(cli: CliContext, revision: str) -> None:
    """Migrate the database to REVISION (default: the newest)."""
    from billhive.db import upgrade

    upgrade(cli.settings.effective_database_url, revision)
    click.echo(f"Database at revision {revision}.")


@db.command("current")
@pass_cli
def db_current(cli: CliContext) -> None:
    """Print the revision the database is at."""
    from billhive.db import current_revision

    click.echo(current_revision(cli.settings.effective_database_url) or "(not migrated)")


# -- settings ------------------------------------------------------------------------


@main.group()
def config() -> None:
    """Inspect settings."""


@config.command("show")
@pass_cli
def config_show(cli: CliContext) -> None:
    """Print every setting; secrets and the passwords in URLs show as asterisks."""
    for name, value in sorted(cli.settings.display_values().items()):
        click.echo(f"BILLHIVE_{name.upper()}={value}")


@config.command("init-dev")
@click.option("--instance", type=click.Path(path_type=Path), default=Path("instance"))
def config_init_dev(instance: Path) -> None:
    """Generate development secrets into the instance folder (once)."""
    path = ensure_dev_secrets(instance.resolve())
    click.echo(f"Development secrets in {path}")


# -- tenants and the vault (billhive/tenants/cli.py) ------------------------------------

from billhive.tenants.cli import tenants as tenants_group  # noqa: E402
from billhive.tenants.cli import vault as vault_group  # noqa: E402

main.add_command(vault_group)
main.add_command(tenants_group)


# -- admin dashboard accounts (billhive/platform/admin/cli.py) ----------------------------

from billhive.platform.admin.cli import admin as admin_group  # noqa: E402

main.add_command(admin_group)


# -- developer API tokens (billhive/platform/api/cli.py) ---------------------------------

from billhive.platform.api.cli import tokens as tokens_group  # noqa: E402

main.add_command(tokens_group)


# -- change feeds (billhive/feeds/cli.py) --------------------------------------------------

from billhive.feeds.cli import feeds as feeds_group  # noqa: E402

main.add_command(feeds_group)


if __name__ == "__main__":  # pragma: no cover
    main()
