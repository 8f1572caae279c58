"""Demo merchants for ``billhive dev``: the sandbox's demo accounts, signed up for real,
with their order feeds on and the sandbox changing their orders now and then."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from sqlalchemy import select

from billhive.config import Settings
from billhive.db import Database
from billhive.feeds.models import Resource
from billhive.feeds.service import switch_on
from billhive.sandbox import demo_accounts
from billhive.tenants.errors import DuplicateUsername
from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.service import SignupRequest, sign_up
from billhive.tenants.vault import Vault
from billhive.tenants.verify import make_verifier


@dataclass(frozen=True)
class DemoMerchant:
    """A demo merchant's sandbox login, printed by ``billhive dev`` (local fake data)."""

    name: str
    username: str
    password: str
    status: str


#: The sandbox's change generator in the demo: each demo account's orders change about
#: this often per minute, enough for the dashboard to show feed events arriving.
DEMO_CHANGES_PER_ACCOUNT_PER_MINUTE = 2.0


def sign_up_demo_merchants(settings: Settings) -> list[DemoMerchant]:
    """Sign up each sandbox demo account once (through the real signup service)."""
    database = Database(settings.effective_database_url, pool=False)
    vault = Vault.from_settings(settings)
    verify = make_verifier(settings)
    merchants = []
    try:
        for account in demo_accounts():
            request = SignupRequest(
                display_name=account.name,
                contact_email=account.username,
                username=account.username,
                password=account.password,
                invoice_creation_allowed=account.invoice_creation_allowed,
            )
            with database.session() as session:
                # Looked up first (local demo data; sign_up asks Billbee first so that
                # merchants cannot probe usernames), so a restart while the sandbox is
                # slow adds no waiting signup for a merchant connected already.
                index = vault.blind_index(account.username)
                if session.scalar(select(Tenant.id).where(Tenant.username_index == index)):
                    status = "already signed up"
                else:
                    try:
                        status = sign_up(
                            session, vault, request, verify=verify, actor="cli"
                        ).status.value
                    except DuplicateUsername:
                        status = "already signed up"
            merchants.append(DemoMerchant(account.name, account.username, account.password, status))
    finally:
        database.dispose()
    return merchants


def switch_on_demo_feeds(settings: Settings) -> int:
    """Switch the orders feed of each active demo merchant on; returns how many tenants."""
    database = Database(settings.effective_database_url, pool=False)
    vault = Vault.from_settings(settings)
    indexes = [vault.blind_index(account.username) for account in demo_accounts()]
    try:
        with database.session() as session:
            tenant_ids = session.scalars(
                select(Tenant.id).where(
                    Tenant.username_index.in_(indexes), Tenant.status == TenantStatus.ACTIVE
                )
            ).all()
            for tenant_id in tenant_ids:
                switch_on(session, tenant_id, [Resource.ORDERS])
    finally:
        database.dispose()
    return len(tenant_ids)


def start_demo_changes(
    sandbox_api_url: str, per_account_per_minute: float = DEMO_CHANGES_PER_ACCOUNT_PER_MINUTE
) -> None:
    """Have the sandbox post webhooks and change the demo accounts' orders (its control
    API under ``sandbox_api_url``, e.g. ``http://127.0.0.1:8001/api/v1``)."""
    control = f"{sandbox_api_url.rstrip('/')}/_sandbox"
    with httpx.Client(timeout=10) as client:
        client.put(f"{control}/webhooks", json={"deliver": True}).raise_for_status()
        client.put(
            f"{control}/changes/generator",
            json={"per_account_per_minute": per_account_per_minute},
        ).raise_for_status()
