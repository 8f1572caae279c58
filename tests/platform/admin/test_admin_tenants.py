"""The tenants list (paging, search, filter, sort) and the tenant page."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session
from support.admin import TENANT_PASSWORD, Made

from billhive.tenants.audit import set_status
from billhive.tenants.models import TenantStatus
from billhive.workers.models import CallStatus, UsageDay


def _names(page: str) -> list[str]:
    return re.findall(r'<a href="/admin/tenants/\d+">([^<]+)</a>', page)


def test_the_list_shows_fifty_tenants_a_page_and_the_rest_on_the_next(
    admin_client: Any, made: Made
) -> None:
    for n in range(60):
        made.tenant(name=f"Shop {n:02d}", email=f"s{n}@example.com")
    first = admin_client.get("/admin/tenants").get_data(as_text=True)
    second = admin_client.get("/admin/tenants?page=2").get_data(as_text=True)
    assert len(_names(first)) == 50
    assert _names(second) == [f"Shop {n:02d}" for n in range(9, -1, -1)]
    assert "Page 2 of 2" in second


def test_search_finds_tenants_whose_name_starts_with_the_text_in_any_case(
    admin_client: Any, made: Made
) -> None:
    made.tenant(name="Acme Tools", email="a@example.com")
    made.tenant(name="Bolt Supplies", email="b@example.com")
    page = admin_client.get("/admin/tenants?q=aCmE").get_data(as_text=True)
    assert _names(page) == ["Acme Tools"]


def test_search_finds_a_tenant_by_its_whole_contact_email_in_any_case(
    admin_client: Any, made: Made
) -> None:
    made.tenant(name="Acme Tools", email="orders@acme.example")
    made.tenant(name="Bolt Supplies", email="info@bolt.example")
    page = admin_client.get("/admin/tenants?q=Info@Bolt.example").get_data(as_text=True)
    assert _names(page) == ["Bolt Supplies"]


def test_search_by_the_start_of_a_sealed_contact_email_finds_nothing(
    admin_client: Any, made: Made
) -> None:
    made.tenant(name="Bolt Supplies", email="info@bolt.example")
    page = admin_client.get("/admin/tenants?q=info@bo").get_data(as_text=True)
    assert _names(page) == []


def test_search_treats_like_wildcards_as_plain_characters(admin_client: Any, made: Made) -> None:
    made.tenant(name="100% Organic", email="a@example.com")
    made.tenant(name="1000 Things", email="b@example.com")
    page = admin_client.get("/admin/tenants?q=100%25").get_data(as_text=True)
    assert _names(page) == ["100% Organic"]


def test_search_finds_a_tenant_by_its_exact_billbee_username(admin_client: Any, made: Made) -> None:
    made.tenant(name="Acme Tools", username="acme-api@shop.example")
    made.tenant(name="Bolt Supplies", username="bolt-api@shop.example")
    page = admin_client.get("/admin/tenants?q=Bolt-API@shop.example").get_data(as_text=True)
    assert _names(page) == ["Bolt Supplies"]


def test_search_finds_a_signup_still_waiting_for_billbee_by_its_username(
    admin_client: Any, made: Made, session: Any
) -> None:
    waiting = made.tenant(name="Waiting Shop", username="wait-api@shop.example")
    waiting.pending_username_index, waiting.username_index = waiting.username_index, None
    session.commit()
    page = admin_client.get("/admin/tenants?q=wait-api@shop.example").get_data(as_text=True)
    assert _names(page) == ["Waiting Shop"]


def test_a_partial_billbee_username_finds_nothing(admin_client: Any, made: Made) -> None:
    made.tenant(name="Acme Tools", email="x@example.com", username="acme-api@shop.example")
    page = admin_client.get("/admin/tenants?q=acme-api").get_data(as_text=True)
    assert _names(page) == []


def test_the_status_filter_shows_only_that_status(admin_client: Any, made: Made) -> None:
    made.tenant(name="Running", email="a@example.com")
    made.tenant(name="Stopped", email="b@example.com", status=TenantStatus.PAUSED)
    page = admin_client.get("/admin/tenants?status=paused").get_data(as_text=True)
    assert _names(page) == ["Stopped"]


def test_sorting_by_name_ignores_case(admin_client: Any, made: Made) -> None:
    for name in ("beta", "Alpha", "Gamma"):
        made.tenant(name=name, email=f"{name}@example.com")
    page = admin_client.get("/admin/tenants?sort=name").get_data(as_text=True)
    assert _names(page) == ["Alpha", "beta", "Gamma"]


def test_an_unknown_status_is_refused_with_a_clear_message(admin_client: Any) -> None:
    response = admin_client.get("/admin/tenants?status=sleeping")
    assert response.status_code == 400
    assert "Unknown status" in response.get_data(as_text=True)


def test_a_page_that_is_not_a_number_is_refused(admin_client: Any) -> None:
    response = admin_client.get("/admin/tenants?page=two")
    assert response.status_code == 400
    assert "whole number" in response.get_data(as_text=True)


def test_the_tenant_page_shows_status_history_calls_and_chart(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant(name="Acme Tools")
    set_status(session, tenant, TenantStatus.PAUSED, actor="admin:9", reason="holiday")
    session.add(UsageDay(tenant_id=tenant.id, day=tenant.created_at.date(), calls=12, throttled=2))
    session.commit()
    made.call(tenant, status=CallStatus.FAILED, error="Billbee said no")
    page = admin_client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert "holiday" in page
    assert "active → paused" in page
    assert "Billbee said no" in page
    assert "<svg" in page
    assert "10 calls" in page and "2 throttled" in page


def test_the_tenant_page_never_shows_the_api_password(admin_client: Any, made: Made) -> None:
    tenant = made.tenant(name="Acme Tools")
    page = admin_client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert TENANT_PASSWORD not in page
    assert "password" not in page.lower()


def test_an_unknown_tenant_is_a_clear_404(admin_client: Any) -> None:
    response = admin_client.get("/admin/tenants/999")
    assert response.status_code == 404
    assert "There is no tenant 999" in response.get_data(as_text=True)


def test_the_live_figures_of_a_tenant_are_json(admin_client: Any, made: Made) -> None:
    tenant = made.tenant()
    assert admin_client.get(f"/admin/live/tenants/{tenant.id}").get_json() == {
        "status": "active",
        "queue_depth": 0,
    }


def test_search_text_with_quotes_and_backslashes_is_matched_literally(
    admin_client: Any, made: Made
) -> None:
    made.tenant(name="O'Reilly \\ Sons", email="a@example.com")
    made.tenant(name="Other", email="b@example.com")
    page = admin_client.get("/admin/tenants", query_string={"q": "o'reilly \\"})
    assert _names(page.get_data(as_text=True)) == ["O&#39;Reilly \\ Sons"]


def test_a_broad_search_says_there_are_more_matches_than_counted(
    admin_client: Any, made: Made, monkeypatch: Any
) -> None:
    from billhive.platform.admin import queries

    monkeypatch.setattr(queries, "SEARCH_COUNT_CAP", 3)
    for n in range(5):
        made.tenant(name=f"Shop {n}", email=f"s{n}@example.com")
    page = admin_client.get("/admin/tenants?q=shop").get_data(as_text=True)
    assert "more than 3 match" in page
    assert len(_names(page)) == 5


def test_the_tenant_page_shows_that_billbee_refused_an_invoice(
    admin_client: Any, made: Made, session: Session
) -> None:
    from billhive.db import utcnow

    tenant = made.tenant()
    tenant.invoice_refused_at = utcnow()
    session.commit()
    page = admin_client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert 'id="invoice-refused"' in page and "reconnect page" in page
