"""The admin dashboard in headless Chromium: log in, page and search tenants, pause and
resume, requeue a failed call, delete with confirmation; screenshots for the README."""

from __future__ import annotations

import random
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect
from redis import Redis
from sqlalchemy.orm import Session
from support.browser import Platform
from support.sealed import store_payload

from billhive.config import Settings
from billhive.db import utcnow
from billhive.platform.admin.accounts import create_admin
from billhive.tenants.audit import record
from billhive.tenants.contact import seal_contact_email
from billhive.tenants.models import Tenant, TenantCredentials, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers import stats
from billhive.workers.models import Call, CallStatus, UsageDay

pytestmark = pytest.mark.browser

EMAIL = "ops@example.com"
PASSWORD = "correct horse battery staple"
SHOPS = 60
FAILURE = "Billbee answered 500 three times"
OPERATIONS = ("orders.get", "products.get", "products.update_stock", "customers.get")


def _tenant(session: Session, vault: Vault, n: int, status: TenantStatus) -> Tenant:
    tenant = Tenant(
        display_name=f"Shop {n:02d}",
        username_index=vault.blind_index(f"api{n}@shop.example"),
        status=status,
        invoice_creation_allowed=n % 3 == 0,
        verified_at=utcnow(),
    )
    session.add(tenant)
    session.flush()
    sealed = vault.seal(tenant.id, f"api{n}@shop.example", "Secret#Pass-2026")
    credentials = TenantCredentials(tenant_id=tenant.id, **sealed._asdict())
    session.add(credentials)
    seal_contact_email(vault, tenant, credentials, f"owner{n:02d}@shop{n:02d}.example")
    record(session, tenant.id, actor="merchant", action="signed_up", to_status=status)
    return tenant


def _calls(session: Session, vault: Vault, tenant: Tenant, rng: random.Random) -> None:
    now = utcnow()
    for k in range(12):
        status = rng.choice([CallStatus.SUCCEEDED] * 8 + [CallStatus.FAILED])
        enqueued = now - timedelta(minutes=rng.randint(1, 600), seconds=k)
        call = Call(
            tenant_id=tenant.id,
            operation=rng.choice(OPERATIONS),
            status=status,
            attempts=1 if status == CallStatus.SUCCEEDED else 3,
            http_status=200 if status == CallStatus.SUCCEEDED else 500,
            error=None if status == CallStatus.SUCCEEDED else FAILURE,
            error_name=None if status == CallStatus.SUCCEEDED else "ServerError",
            enqueued_at=enqueued,
            started_at=enqueued + timedelta(milliseconds=rng.randint(20, 900)),
            finished_at=enqueued + timedelta(seconds=1),
        )
        session.add(call)
        store_payload(
            session,
            vault,
            call,
            params={"id": rng.randint(1000, 9999)},
            result={"Data": {"Id": 1}} if status == CallStatus.SUCCEEDED else None,
        )
    today = now.date()
    for day in range(30):
        calls = rng.randint(200, 1500)
        session.add(
            UsageDay(
                tenant_id=tenant.id,
                day=today - timedelta(days=day),
                calls=calls,
                throttled=rng.randint(0, 3),
            )
        )


@pytest.fixture
def seeded(session: Session, settings_factory: Any, redis_client: Redis) -> dict[str, int]:
    """An admin, sixty shops with calls and usage, and a last hour of call outcomes."""
    settings: Settings = settings_factory()
    vault = Vault.from_settings(settings)
    rng = random.Random(7)
    create_admin(session, EMAIL, PASSWORD)
    statuses = [TenantStatus.ACTIVE] * 8 + [TenantStatus.PAUSED, TenantStatus.CREDENTIALS_INVALID]
    tenants = [_tenant(session, vault, n, statuses[n % len(statuses)]) for n in range(SHOPS)]
    tenants[0].status = TenantStatus.ACTIVE
    for tenant in tenants[:6]:
        _calls(session, vault, tenant, rng)
    failed = Call(
        tenant_id=tenants[0].id,
        operation="orders.get",
        status=CallStatus.FAILED,
        attempts=3,
        http_status=500,
        error_name="ServerError",
        error="Billbee answered 500 three times",
        enqueued_at=utcnow() - timedelta(minutes=5),
        started_at=utcnow() - timedelta(minutes=5) + timedelta(milliseconds=140),
        finished_at=utcnow() - timedelta(minutes=5) + timedelta(milliseconds=2900),
    )
    session.add(failed)
    store_payload(session, vault, failed, params={"id": 4711})
    session.commit()
    now = utcnow().timestamp()
    for minute in range(60):
        at = now - minute * 60
        for _ in range(rng.randint(20, 60)):
            stats.record_outcome(redis_client, "succeeded", at=at)
        for _ in range(rng.randint(0, 3)):
            stats.record_outcome(redis_client, "failed", at=at)
    return {"tenant": tenants[0].id, "failed_call": failed.id}


def _log_in(page: Any, platform: Platform) -> None:
    page.goto(platform.url + "/admin/")
    assert "/admin/login" in page.url
    page.fill("#email", EMAIL)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]:has-text('Log in')")
    page.wait_for_selector("h1:has-text('Overview')")


def test_an_admin_logs_in_and_sees_the_overview(
    open_page: Any, platform: Platform, seeded: dict[str, int], screenshots: Path
) -> None:
    page = open_page()
    _log_in(page, platform)
    expect(page.locator("[data-field=workers_alive]")).to_have_text("0")
    assert page.locator("figure.chart rect").count() > 60
    page.screenshot(path=str(screenshots / "admin-overview.png"), full_page=True)


def test_the_live_figures_refresh_under_the_content_security_policy(
    open_page: Any, platform: Platform, seeded: dict[str, int], session: Session
) -> None:
    page = open_page()
    _log_in(page, platform)
    response = page.goto(f"{platform.url}/admin/tenants/{seeded['tenant']}")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    expect(page.locator("[data-field=status]")).to_have_text("active")
    tenant = session.get(Tenant, seeded["tenant"])
    assert tenant is not None
    tenant.status = TenantStatus.PAUSED
    session.commit()
    # admin.js polls every 5 seconds; the figure changes without a reload.
    expect(page.locator("[data-field=status]")).to_have_text("paused", timeout=12_000)


def test_the_chart_legend_shows_its_colours_without_inline_styles(
    open_page: Any, platform: Platform, seeded: dict[str, int]
) -> None:
    page = open_page()
    _log_in(page, platform)
    swatches = page.locator("figure.chart .legend svg.swatch rect")
    assert swatches.count() >= 3
    box = page.locator("figure.chart .legend svg.swatch").first.bounding_box()
    assert box is not None and box["width"] > 5


def test_a_wrong_password_keeps_the_visitor_out(
    open_page: Any, platform: Platform, seeded: dict[str, int]
) -> None:
    page = open_page()
    page.goto(platform.url + "/admin/login")
    page.fill("#email", EMAIL)
    page.fill("#password", "not the password")
    page.click("button[type=submit]:has-text('Log in')")
    expect(page.locator("text=Wrong e-mail or password.")).to_be_visible()


def test_an_admin_pages_and_searches_through_tenants(
    open_page: Any, platform: Platform, seeded: dict[str, int], screenshots: Path
) -> None:
    page = open_page()
    _log_in(page, platform)
    page.click("nav >> text=Tenants")
    expect(page.locator("#tenants tbody tr")).to_have_count(50)
    page.screenshot(path=str(screenshots / "admin-tenants.png"), full_page=True)
    page.click("a[rel=next]")
    expect(page.locator("#tenants tbody tr")).to_have_count(SHOPS - 50)
    expect(page.locator("text=Page 2 of 2")).to_be_visible()
    page.fill("#q", "Owner07@Shop07.example")  # a whole e-mail: they are sealed
    page.click("button:has-text('Search')")
    expect(page.locator("#tenants tbody tr")).to_have_count(1)
    expect(page.locator("#tenants >> text=Shop 07")).to_be_visible()
    page.fill("#q", "API12@shop.example")
    page.click("button:has-text('Search')")
    expect(page.locator("#tenants tbody tr")).to_have_count(1)
    expect(page.locator("#tenants >> text=Shop 12")).to_be_visible()


def test_an_admin_pauses_and_resumes_a_tenant(
    open_page: Any, platform: Platform, seeded: dict[str, int], screenshots: Path
) -> None:
    page = open_page()
    _log_in(page, platform)
    page.goto(f"{platform.url}/admin/tenants/{seeded['tenant']}")
    page.fill("#reason", "merchant on holiday")
    page.click("button:has-text('Pause')")
    expect(page.locator("text=Paused. Queued calls wait until you resume.")).to_be_visible()
    expect(page.locator("[data-field=status]")).to_have_text("paused")
    page.click("button:has-text('Resume')")
    expect(page.locator("[data-field=status]")).to_have_text("active")
    expect(page.locator("#history >> text=merchant on holiday")).to_be_visible()
    page.screenshot(path=str(screenshots / "admin-tenant.png"), full_page=True)


def test_an_admin_requeues_a_failed_call(
    open_page: Any, platform: Platform, seeded: dict[str, int], screenshots: Path
) -> None:
    page = open_page()
    _log_in(page, platform)
    page.click("nav >> text=Calls")
    page.select_option("#status", "failed")
    page.click("button:has-text('Filter')")
    page.screenshot(path=str(screenshots / "admin-calls.png"), full_page=True)
    page.click(f"#calls >> a[href='/admin/calls/{seeded['failed_call']}']")
    expect(page.locator("#call-status")).to_have_text("failed")
    page.screenshot(path=str(screenshots / "admin-call.png"), full_page=True)
    page.click("button:has-text('Requeue')")
    expect(page.locator("text=Queued again.")).to_be_visible()
    expect(page.locator("#call-status")).to_have_text("queued")


def test_an_admin_deletes_a_tenant_after_confirming(
    open_page: Any, platform: Platform, seeded: dict[str, int], screenshots: Path
) -> None:
    page = open_page()
    _log_in(page, platform)
    tenant_id = seeded["tenant"]
    page.goto(f"{platform.url}/admin/tenants/{tenant_id}")
    page.click("text=Delete…")
    expect(page.locator("text=cannot be undone")).to_be_visible()
    page.fill("#confirm", "wrong")
    page.click("button:has-text('Delete for good')")
    expect(page.locator(f"text=Type {tenant_id} to confirm.")).to_be_visible()
    page.fill("#confirm", str(tenant_id))
    page.click("button:has-text('Delete for good')")
    expect(page.locator(f"text=Tenant {tenant_id} deleted")).to_be_visible()
    expect(page.locator("[data-field=status]")).to_have_text("deleted")
    page.click("nav >> text=Audit log")
    page.screenshot(path=str(screenshots / "admin-audit.png"), full_page=True)
    expect(page.locator("#events >> text=deleted").first).to_be_visible()
