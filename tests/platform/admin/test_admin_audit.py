"""The audit log page: every event, filterable by tenant, actor and action."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session
from support.admin import Made

from billhive.tenants.audit import record


def test_the_audit_log_lists_tenant_changes_and_admin_logins(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant(name="Acme Tools")
    record(session, tenant.id, actor="system", action="verified", reason="ok")
    session.commit()
    page = admin_client.get("/admin/audit").get_data(as_text=True)
    assert "verified" in page and "Acme Tools" in page
    assert "admin_logged_in" in page


def test_the_audit_log_filters_by_tenant(admin_client: Any, made: Made, session: Session) -> None:
    one, two = made.tenant(name="One"), made.tenant(name="Two", email="t@example.com")
    record(session, one.id, actor="system", action="action_of_one")
    record(session, two.id, actor="system", action="action_of_two")
    session.commit()
    page = admin_client.get(f"/admin/audit?tenant={two.id}").get_data(as_text=True)
    assert "action_of_two" in page and "action_of_one" not in page


def test_the_audit_log_filters_by_actor_and_action(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    record(session, tenant.id, actor="merchant", action="reconnected", reason="by merchant")
    record(session, tenant.id, actor="cli", action="reconnected", reason="by cli")
    session.commit()
    page = admin_client.get("/admin/audit?actor=cli&action=reconnected").get_data(as_text=True)
    assert "by cli" in page and "by merchant" not in page


def test_a_tenant_filter_that_is_not_a_number_is_refused(admin_client: Any) -> None:
    response = admin_client.get("/admin/audit?tenant=abc")
    assert response.status_code == 400
    assert "whole number" in response.get_data(as_text=True)
