"""Calls across tenants, the call page, and requeueing or cancelling one call."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy.orm import Session
from support.admin import Made, csrf_token

from billhive.platform.admin.queries import CALLS_PER_PAGE
from billhive.tenants.models import AuditEvent
from billhive.workers.models import Call, CallStatus


def _ids(page: str) -> list[int]:
    return [int(n) for n in re.findall(r'<a href="/admin/calls/(\d+)">', page)]


def test_calls_are_filtered_by_status(admin_client: Any, made: Made) -> None:
    tenant = made.tenant()
    failed = made.call(tenant, status=CallStatus.FAILED)
    made.call(tenant, status=CallStatus.SUCCEEDED)
    page = admin_client.get("/admin/calls?status=failed").get_data(as_text=True)
    assert _ids(page) == [failed.id]


def test_calls_are_filtered_by_operation_and_tenant(admin_client: Any, made: Made) -> None:
    one, two = made.tenant(name="One"), made.tenant(name="Two", email="two@example.com")
    wanted = made.call(two, operation="products.get")
    made.call(one, operation="products.get")
    made.call(two, operation="orders.get")
    page = admin_client.get(f"/admin/calls?operation=products.get&tenant={two.id}")
    assert _ids(page.get_data(as_text=True)) == [wanted.id]


def test_older_calls_are_on_the_next_page(admin_client: Any, made: Made) -> None:
    tenant = made.tenant()
    calls = [made.call(tenant) for _ in range(CALLS_PER_PAGE + 3)]
    first = admin_client.get("/admin/calls").get_data(as_text=True)
    assert _ids(first)[0] == calls[-1].id
    older = re.search(r'href="(/admin/calls\?before=\d+)"', first)
    assert older
    second = admin_client.get(older.group(1)).get_data(as_text=True)
    assert _ids(second) == [c.id for c in reversed(calls[:3])]


def test_an_unknown_operation_is_refused_with_its_name(admin_client: Any) -> None:
    response = admin_client.get("/admin/calls?operation=orders.steal")
    assert response.status_code == 400
    assert "orders.steal" in response.get_data(as_text=True)


def test_the_call_page_shows_timings_parameters_and_result(admin_client: Any, made: Made) -> None:
    call = made.call(made.tenant(), params={"id": 4711})
    page = admin_client.get(f"/admin/calls/{call.id}").get_data(as_text=True)
    assert "Waited in queue" in page and "1.000 s" in page
    assert "4711" in page
    assert "&#34;Id&#34;: 7" in page or '"Id": 7' in page


def test_the_call_page_blanks_secret_looking_values(admin_client: Any, made: Made) -> None:
    call = made.call(made.tenant(), params={"id": 1, "apiPassword": "hunter2-secret"})
    page = admin_client.get(f"/admin/calls/{call.id}").get_data(as_text=True)
    assert "hunter2-secret" not in page
    assert "[redacted]" in page


def test_requeueing_a_failed_call_queues_it_and_logs_it(
    admin_client: Any, made: Made, session: Session
) -> None:
    call = made.call(made.tenant(), status=CallStatus.FAILED)
    token = csrf_token(admin_client, f"/admin/calls/{call.id}")
    admin_client.post(f"/admin/calls/{call.id}/requeue", data={"csrf_token": token})
    session.expire_all()
    assert session.get(Call, call.id).status == CallStatus.QUEUED  # type: ignore[union-attr]
    assert session.query(AuditEvent).filter_by(action="calls_requeued").count() == 1


def test_a_succeeded_call_is_not_requeued(admin_client: Any, made: Made, session: Session) -> None:
    call = made.call(made.tenant(), status=CallStatus.SUCCEEDED)
    token = csrf_token(admin_client, f"/admin/calls/{call.id}")
    admin_client.post(f"/admin/calls/{call.id}/requeue", data={"csrf_token": token})
    page = admin_client.get(f"/admin/calls/{call.id}").get_data(as_text=True)
    assert "Only failed calls" in page
    session.expire_all()
    assert session.get(Call, call.id).status == CallStatus.SUCCEEDED  # type: ignore[union-attr]


def test_a_queued_call_can_be_cancelled(admin_client: Any, made: Made, session: Session) -> None:
    call = made.call(made.tenant(), status=CallStatus.QUEUED)
    token = csrf_token(admin_client, f"/admin/calls/{call.id}")
    admin_client.post(f"/admin/calls/{call.id}/cancel", data={"csrf_token": token})
    session.expire_all()
    assert session.get(Call, call.id).status == CallStatus.CANCELLED  # type: ignore[union-attr]
