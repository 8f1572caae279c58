"""``billhive feeds on/off/list``: switching a tenant's feeds from the command line."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from click.testing import CliRunner
from redis import Redis
from sqlalchemy import select, update
from sqlalchemy.orm import Session
from support.factories import add_tenant

from billhive.cli import main
from billhive.config import Settings
from billhive.db import utcnow
from billhive.feeds import backlog
from billhive.feeds.models import Feed, Resource
from billhive.feeds.service import switch_on
from billhive.tenants.models import TenantStatus
from billhive.tenants.vault import Vault


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    for name, value in settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"BILLHIVE_{name.upper()}", str(raw))
    return CliRunner().invoke(main, list(args))


def _tenant(
    session: Session, settings: Settings, status: TenantStatus = TenantStatus.ACTIVE
) -> int:
    tenant = add_tenant(session, Vault.from_settings(settings), status=status)
    session.commit()
    return tenant.id


def _feeds(session: Session, tenant_id: int) -> dict[Resource, bool]:
    session.expire_all()
    rows = session.scalars(select(Feed).where(Feed.tenant_id == tenant_id))
    return {f.resource: f.enabled for f in rows}


def test_feeds_on_switches_every_resource_on_and_list_shows_them(
    settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id = _tenant(session, settings)
    result = _cli(settings, monkeypatch, "feeds", "on", str(tenant_id))
    assert result.exit_code == 0, result.output
    assert _feeds(session, tenant_id) == {r: True for r in Resource}

    listed = _cli(settings, monkeypatch, "feeds", "list", "--tenant", str(tenant_id))
    assert listed.exit_code == 0, listed.output
    lines = listed.stdout.strip().splitlines()
    assert len(lines) == 3 and all(line.startswith(f"{tenant_id}\t") for line in lines)
    assert "orders\ton" in listed.stdout


def test_feeds_off_with_a_resource_switches_only_that_one_off(
    settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id = _tenant(session, settings)
    _cli(settings, monkeypatch, "feeds", "on", str(tenant_id), "--resource", "orders")
    _cli(settings, monkeypatch, "feeds", "on", str(tenant_id), "--resource", "stock")
    result = _cli(settings, monkeypatch, "feeds", "off", str(tenant_id), "--resource", "stock")
    assert result.exit_code == 0, result.output
    assert "feeds on: orders" in result.stdout
    assert _feeds(session, tenant_id) == {Resource.ORDERS: True, Resource.STOCK: False}


def test_feeds_on_for_an_unknown_or_deleted_tenant_names_the_problem(
    settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = _cli(settings, monkeypatch, "feeds", "on", "4242")
    assert missing.exit_code != 0 and "no tenant 4242" in missing.output
    gone = _tenant(session, settings, TenantStatus.DELETED)
    deleted = _cli(settings, monkeypatch, "feeds", "on", str(gone))
    assert deleted.exit_code != 0 and "is deleted" in deleted.output


def test_an_unknown_resource_is_refused_by_name(
    settings: Settings, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id = _tenant(session, settings)
    result = _cli(settings, monkeypatch, "feeds", "on", str(tenant_id), "--resource", "invoices")
    assert result.exit_code != 0 and "invoices" in result.output


def test_feeds_backlog_shows_what_waits_and_the_share_that_would_keep_up(
    settings: Settings, session: Session, redis_client: Redis, monkeypatch: pytest.MonkeyPatch
) -> None:
    tenant_id = _tenant(session, settings)
    switch_on(session, tenant_id, [Resource.ORDERS])
    now = utcnow()
    session.execute(update(Feed).values(next_poll_at=now - timedelta(seconds=30)))
    session.commit()
    backlog.record(session, redis_client, started=5, now=now)
    result = _cli(settings, monkeypatch, "feeds", "backlog")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("backlogged: 1 fetches waiting (0 triggered by webhooks)")
    assert "oldest 30 s; demand 5.00/s needs a share of 0.100" in result.stdout


def test_feeds_backlog_without_figures_says_the_scheduler_may_not_run(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = _cli(settings, monkeypatch, "feeds", "backlog")
    assert result.exit_code != 0 and "billhive scheduler" in result.output
