"""The tenant actions: each changes what it says, lands in the audit log, needs CSRF."""

from __future__ import annotations

from typing import Any

from flask import Flask
from redis import Redis
from rq import Queue
from sqlalchemy import select
from sqlalchemy.orm import Session
from support.admin import Made, csrf_token

from billhive.platform.admin.models import AdminUser
from billhive.tenants.models import AuditEvent, Tenant, TenantCredentials, TenantStatus
from billhive.workers.control import queue_depth
from billhive.workers.models import Call, CallStatus
from billhive.workers.process import SYSTEM_QUEUE


def _post(client: Any, tenant: Tenant, action: str, **data: str) -> Any:
    token = csrf_token(client, f"/admin/tenants/{tenant.id}")
    return client.post(f"/admin/tenants/{tenant.id}/{action}", data={"csrf_token": token, **data})


def _status(session: Session, tenant: Tenant) -> TenantStatus:
    session.expire_all()
    return session.get(Tenant, tenant.id).status  # type: ignore[union-attr]


def _last_event(session: Session, tenant: Tenant) -> AuditEvent:
    return session.scalars(
        select(AuditEvent).where(AuditEvent.tenant_id == tenant.id).order_by(AuditEvent.id.desc())
    ).first()  # type: ignore[return-value]


def test_pause_pauses_the_tenant_and_logs_the_admin_and_reason(
    admin_client: Any, made: Made, session: Session, admin: AdminUser
) -> None:
    tenant = made.tenant()
    response = _post(admin_client, tenant, "pause", reason="merchant asked")
    assert response.status_code == 302
    assert _status(session, tenant) == TenantStatus.PAUSED
    event = _last_event(session, tenant)
    assert (event.actor, event.action, event.reason) == (admin.actor, "paused", "merchant asked")


def test_resume_makes_a_paused_tenant_active_again(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant(status=TenantStatus.PAUSED)
    _post(admin_client, tenant, "resume")
    assert _status(session, tenant) == TenantStatus.ACTIVE


def test_pausing_a_disabled_tenant_is_refused_with_a_message(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant(status=TenantStatus.DISABLED)
    _post(admin_client, tenant, "pause")
    page = admin_client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert "cannot be paused" in page
    assert _status(session, tenant) == TenantStatus.DISABLED


def test_disable_disables_the_tenant(admin_client: Any, made: Made, session: Session) -> None:
    tenant = made.tenant()
    _post(admin_client, tenant, "disable", reason="fraud")
    assert _status(session, tenant) == TenantStatus.DISABLED
    assert _last_event(session, tenant).reason == "fraud"


def test_reverify_queues_a_verification_job_for_the_tenant(
    admin_client: Any, made: Made, session: Session, redis_client: Redis
) -> None:
    tenant = made.tenant(status=TenantStatus.CREDENTIALS_INVALID)
    _post(admin_client, tenant, "verify")
    assert _status(session, tenant) == TenantStatus.PENDING_VERIFICATION
    jobs = Queue(SYSTEM_QUEUE, connection=redis_client).get_jobs()
    assert [job.args for job in jobs] == [(tenant.id,)]


def test_a_reconnect_link_is_shown_once_and_logged(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    page = _post(admin_client, tenant, "reconnect-link").get_data(as_text=True)
    assert "/signup/reconnect/" in page
    assert _last_event(session, tenant).action == "reconnect_link_made"


def test_delete_first_asks_for_confirmation(admin_client: Any, made: Made) -> None:
    tenant = made.tenant()
    page = admin_client.get(f"/admin/tenants/{tenant.id}/delete").get_data(as_text=True)
    assert "cannot be undone" in page
    assert 'name="confirm"' in page


def test_delete_with_the_wrong_number_deletes_nothing(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    response = _post(admin_client, tenant, "delete", confirm=str(tenant.id + 1))
    assert response.status_code == 400
    assert f"Type {tenant.id} to confirm" in response.get_data(as_text=True)
    assert _status(session, tenant) == TenantStatus.ACTIVE


def test_delete_with_the_tenants_number_shreds_its_credentials(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    queued = made.call(tenant, status=CallStatus.QUEUED)
    _post(admin_client, tenant, "delete", confirm=str(tenant.id))
    assert _status(session, tenant) == TenantStatus.DELETED
    assert session.get(TenantCredentials, tenant.id) is None
    assert session.get(Call, queued.id).status == CallStatus.CANCELLED  # type: ignore[union-attr]


def test_requeue_failed_calls_queues_them_again(
    admin_client: Any, made: Made, session: Session, redis_client: Redis
) -> None:
    tenant = made.tenant()
    failed = made.call(tenant, status=CallStatus.FAILED, error="boom")
    done = made.call(tenant, status=CallStatus.SUCCEEDED)
    _post(admin_client, tenant, "requeue-failed")
    session.expire_all()
    assert session.get(Call, failed.id).status == CallStatus.QUEUED  # type: ignore[union-attr]
    assert session.get(Call, done.id).status == CallStatus.SUCCEEDED  # type: ignore[union-attr]
    assert queue_depth(redis_client, tenant.id) == 1
    assert _last_event(session, tenant).details == {"count": 1}


def test_every_admin_action_is_refused_without_a_csrf_token(
    app: Flask, admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    call = made.call(tenant, status=CallStatus.FAILED)
    posts = [
        rule.rule.replace("<int:tenant_id>", str(tenant.id)).replace("<int:call_id>", str(call.id))
        for rule in app.url_map.iter_rules()
        if rule.endpoint.startswith("admin.") and "POST" in (rule.methods or set())
    ]
    assert len(posts) >= 12
    for url in posts:
        response = admin_client.post(url, data={"confirm": str(tenant.id), "reason": "x"})
        assert response.status_code == 400, url
    assert _status(session, tenant) == TenantStatus.ACTIVE
    assert session.get(Call, call.id).status == CallStatus.FAILED  # type: ignore[union-attr]
    assert admin_client.get("/admin/").status_code == 200


def test_a_budget_is_set_audited_and_shown(
    admin_client: Any, made: Made, session: Session, admin: AdminUser
) -> None:
    tenant = made.tenant()
    response = _post(
        admin_client, tenant, "budget", monthly_call_budget="5000", mode="hard", reason="pilot"
    )
    assert response.status_code == 302
    session.expire_all()
    stored = session.get(Tenant, tenant.id)
    assert stored is not None and (stored.monthly_call_budget, stored.budget_hard) == (5000, True)
    event = _last_event(session, tenant)
    assert (event.action, event.actor, event.reason) == ("budget_changed", admin.actor, "pilot")
    page = admin_client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert "0 of 5,000 calls used" in page and "hard: new calls are refused" in page


def test_an_empty_budget_clears_it(admin_client: Any, made: Made, session: Session) -> None:
    tenant = made.tenant()
    _post(admin_client, tenant, "budget", monthly_call_budget="10", mode="soft")
    _post(admin_client, tenant, "budget", monthly_call_budget="", mode="hard")
    session.expire_all()
    stored = session.get(Tenant, tenant.id)
    assert stored is not None and stored.monthly_call_budget is None and not stored.budget_hard


def test_a_budget_out_of_range_changes_nothing_and_says_why(
    admin_client: Any, made: Made, session: Session
) -> None:
    tenant = made.tenant()
    response = _post(admin_client, tenant, "budget", monthly_call_budget="0", mode="soft")
    assert response.status_code == 302
    page = admin_client.get(f"/admin/tenants/{tenant.id}").get_data(as_text=True)
    assert "Budget not changed" in page
    session.expire_all()
    assert session.get(Tenant, tenant.id).monthly_call_budget is None  # type: ignore[union-attr]


def test_a_reconnect_link_is_built_on_the_configured_address_not_the_host_header(
    admin_client: Any, made: Made, settings: Any
) -> None:
    tenant = made.tenant()
    token = csrf_token(admin_client, f"/admin/tenants/{tenant.id}")
    cookie = admin_client.get_cookie("session")
    admin_client.set_cookie("session", cookie.value, domain="evil.example")
    response = admin_client.post(
        f"/admin/tenants/{tenant.id}/reconnect-link",
        data={"csrf_token": token},
        headers={"Host": "evil.example"},
    )
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "evil.example" not in page
    assert f"http://{settings.web_host}:{settings.web_port}/signup/reconnect/" in page


def test_a_new_reconnect_link_from_the_dashboard_revokes_the_older_ones(
    admin_client: Any, client: Any, made: Made
) -> None:
    tenant = made.tenant()
    first = _post(admin_client, tenant, "reconnect-link").get_data(as_text=True)
    _post(admin_client, tenant, "reconnect-link")
    path = (
        "/signup/reconnect/" + first.split("/signup/reconnect/", 1)[1].split('"')[0].split("<")[0]
    )
    assert admin_client.get(path).status_code == 404
