"""Demo merchants for ``billhive dev``: the sandbox's demo accounts, signed up for real."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from billhive.config import Settings
from billhive.db import Database
from billhive.sandbox import demo_accounts
from billhive.tenants.errors import DuplicateUsername
from billhive.tenants.models import Tenant
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
