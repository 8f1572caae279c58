"""Callbacks: registration, the delivery log, signed POSTs to a live receiver, retries."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask, request
from redis import Redis
from rq import Queue, SimpleWorker
from rq.cron import CronScheduler
from rq.job import Job
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from support.sealed import store_payload

from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.delivery.cron import register_cron
from billhive.delivery.models import CallbackDelivery, DeliveryStatus
from billhive.delivery.outbox import (
    collect_finished,
    collect_finished_calls,
    delivery_job_id,
    requeue_lost_callback_deliveries,
    requeue_lost_deliveries,
)
from billhive.delivery.send import (
    MAX_ATTEMPTS,
    NO_ANSWER,
    CallbackFailed,
    deliver_callback,
    run_delivery,
)
from billhive.platform.api.tokens import revoke_token
from billhive.tenants.models import Tenant
from billhive.tenants.vault import Vault
from billhive.tokens.housekeeping import purge_idempotency_keys
from billhive.workers.calls import requeue_calls
from billhive.workers.models import UNANNOUNCED, Call, CallStatus
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.runtime import get_runtime, set_runtime

#: The tests' receivers listen on loopback, which callbacks may only reach when an operator
#: allow-lists it; tests of the default (production) path build their own settings.
LOOPBACK = "127.0.0.0/8"


@pytest.fixture
def settings(settings_factory: Callable[..., Settings], db: Any) -> Settings:
    """The test settings with the receivers' loopback network allow-listed."""
    return settings_factory(callback_allowed_networks=LOOPBACK)


def reference_verify(secret: str, header: str, body: bytes, tolerance: int = 300) -> bool:
    """How a receiver checks ``Billhive-Signature`` (written from the docs, not the code)."""
    fields = dict(part.strip().split("=", 1) for part in header.split(","))
    timestamp = int(fields["t"])
    if abs(time.time() - timestamp) > tolerance:
        return False
    expected = hmac.new(
        secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256
    ).hexdigest()
    return hmac.compare_digest(expected, fields["v1"])


class Receiver:
    """A live HTTP endpoint that records what it is sent and answers ``status``."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 200
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])

    def _hook(self) -> tuple[str, int]:
        self.received.append((dict(request.headers), request.get_data()))
        return "", self.status


@pytest.fixture
def receiver(live_server_factory: Callable[[Any], Any]) -> Iterator[tuple[Receiver, str]]:
    """A receiver and its URL."""
    hook = Receiver()
    server = live_server_factory(hook.app)
    yield hook, f"{server.url}/hook"


def _register(api: Callable[..., Any], url: str) -> str:
    response = api("PUT", "/api/v1/callback", json={"url": url})
    assert response.status_code == 200, response.json
    secret: str = response.json["signing_secret"]
    return secret


def _finished_call(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis: Redis, vault: Vault
) -> int:
    call_id: int = api(
        "POST", f"/api/v1/tenants/{tenant.id}/calls", json={"operation": "orders.list"}
    ).json["id"]
    call = session.get(Call, call_id)
    assert call is not None
    call.status, call.attempts = CallStatus.SUCCEEDED, 1
    store_payload(session, vault, call, result={"Data": []})
    call.finished_at = utcnow()
    session.commit()
    return call_id


def test_registering_a_callback_shows_the_signing_secret_once(api: Callable[..., Any]) -> None:
    secret = _register(api, "https://erp.example/hooks/billhive")
    assert secret.startswith("whsec_")
    shown = api("GET", "/api/v1/callback")
    assert shown.status_code == 200
    assert shown.json["url"] == "https://erp.example/hooks/billhive"
    assert shown.json["signing_secret"] is None


def test_registering_again_changes_the_secret(api: Callable[..., Any]) -> None:
    assert _register(api, "https://a.example/") != _register(api, "https://a.example/")


def test_without_a_callback_get_is_404(api: Callable[..., Any], db: Any) -> None:
    response = api("GET", "/api/v1/callback")
    assert response.status_code == 404
    assert response.json["error"]["code"] == "callback_not_registered"


def test_delete_removes_the_callback(api: Callable[..., Any]) -> None:
    _register(api, "https://a.example/")
    assert api("DELETE", "/api/v1/callback").status_code == 204
    assert api("GET", "/api/v1/callback").status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "ftp://a.example/",
        "not a url",
        "https://a b/",
        "",
        "https://user:pw@a.example/hook",
        "https://[abc/hook",
        "http://a.example:99999/",
        "http://:80/",
    ],
)
def test_a_callback_url_must_be_http(api: Callable[..., Any], url: str, db: Any) -> None:
    response = api("PUT", "/api/v1/callback", json={"url": url})
    assert response.status_code == 422
    assert response.json["error"]["field"] == "url"


def test_a_finished_call_is_posted_signed_to_the_callback(
    api: Callable[..., Any],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    receiver: tuple[Receiver, str],
    settings: Settings,
    database: Database,
    vault: Vault,
) -> None:
    hook, url = receiver
    secret = _register(api, url)
    call_id = _finished_call(api, tenant, session, redis_client, vault)

    delivery_ids = collect_finished(session, redis_client)
    assert len(delivery_ids) == 1
    assert run_delivery(settings, database, delivery_ids[0]) == "delivered"

    headers, body = hook.received[0]
    assert reference_verify(secret, headers["Billhive-Signature"], body)
    payload = json.loads(body)
    assert payload["event"] == "call.finished"
    assert payload["call"]["id"] == call_id
    assert payload["call"]["status"] == "succeeded"
    assert headers["Billhive-Delivery"] == str(delivery_ids[0])


def test_a_tampered_body_fails_the_reference_check(
    api: Callable[..., Any],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    receiver: tuple[Receiver, str],
    settings: Settings,
    database: Database,
    vault: Vault,
) -> None:
    hook, url = receiver
    secret = _register(api, url)
    _finished_call(api, tenant, session, redis_client, vault)
    run_delivery(settings, database, collect_finished(session, redis_client)[0])
    headers, body = hook.received[0]
    tampered = body.replace(b'"succeeded"', b'"failed"')
    assert tampered != body
    assert not reference_verify(secret, headers["Billhive-Signature"], tampered)
    assert not reference_verify("whsec_other", headers["Billhive-Signature"], body)


def test_a_delivery_carries_no_credential_or_token(
    api: Callable[..., Any],
    tenant: Tenant,
    token: str,
    session: Session,
    redis_client: Redis,
    receiver: tuple[Receiver, str],
    settings: Settings,
    database: Database,
    vault: Vault,
) -> None:
    hook, url = receiver
    secret = _register(api, url)
    _finished_call(api, tenant, session, redis_client, vault)
    run_delivery(settings, database, collect_finished(session, redis_client)[0])
    headers, body = hook.received[0]
    everything = repr(headers) + body.decode()
    assert token not in everything
    assert secret not in everything
    assert settings.require("billbee_api_key") not in everything
    assert "Authorization" not in headers


def test_collect_queues_one_delivery_job_on_the_system_queue(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    _finished_call(api, tenant, session, redis_client, vault)
    ids = collect_finished(session, redis_client)
    jobs = Queue(SYSTEM_QUEUE, connection=redis_client).jobs
    assert [job.args for job in jobs] == [(ids[0],)]
    assert jobs[0].func_name == f"{deliver_callback.__module__}.deliver_callback"
    assert jobs[0].retries_left == MAX_ATTEMPTS - 1


def test_finished_calls_a_run_could_not_record_while_the_database_failed_go_with_the_next(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    first = _finished_call(api, tenant, session, redis_client, vault)
    second = _finished_call(api, tenant, session, redis_client, vault)
    unreachable = Database("postgresql+psycopg://postgres@127.0.0.1:1/nowhere")
    with unreachable.session() as broken, pytest.raises(OperationalError):
        collect_finished(broken, redis_client)
    unreachable.dispose()
    ids = collect_finished(session, redis_client)
    calls = [session.get(CallbackDelivery, i).call_id for i in ids]  # type: ignore[union-attr]
    assert calls == [first, second]


def test_a_pending_delivery_whose_job_was_lost_is_queued_again(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    _finished_call(api, tenant, session, redis_client, vault)
    _finished_call(api, tenant, session, redis_client, vault)
    lost, kept = collect_finished(session, redis_client)
    Job.fetch(delivery_job_id(lost), connection=redis_client).delete()  # Redis lost it
    assert Job.exists(delivery_job_id(kept), connection=redis_client)
    assert requeue_lost_deliveries(session, redis_client, older_than=timedelta(0)) == [lost]
    assert Job.fetch(delivery_job_id(lost), connection=redis_client).args == (lost,)
    assert requeue_lost_deliveries(session, redis_client, older_than=timedelta(0)) == []


def test_a_fresh_pending_delivery_is_not_taken_for_lost(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    _finished_call(api, tenant, session, redis_client, vault)
    (delivery,) = collect_finished(session, redis_client)
    Job.fetch(delivery_job_id(delivery), connection=redis_client).delete()
    assert requeue_lost_deliveries(session, redis_client) == []  # its job may be on its way


def test_calls_of_tokens_without_a_callback_make_no_delivery(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _finished_call(api, tenant, session, redis_client, vault)
    assert collect_finished(session, redis_client) == []


def test_a_refused_delivery_is_logged_and_raised_for_a_retry(
    api: Callable[..., Any],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    receiver: tuple[Receiver, str],
    settings: Settings,
    database: Database,
    vault: Vault,
) -> None:
    hook, url = receiver
    hook.status = 503
    _register(api, url)
    _finished_call(api, tenant, session, redis_client, vault)
    delivery_id = collect_finished(session, redis_client)[0]
    with pytest.raises(CallbackFailed):
        run_delivery(settings, database, delivery_id)
    log = api("GET", "/api/v1/callback/deliveries").json["items"]
    assert log[0]["status"] == "pending"
    assert log[0]["attempts"] == 1
    assert log[0]["last_http_status"] == 503


def test_the_last_failed_attempt_marks_the_delivery_failed(
    api: Callable[..., Any],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    settings: Settings,
    database: Database,
    vault: Vault,
) -> None:
    _register(api, "http://127.0.0.1:1/unreachable")
    _finished_call(api, tenant, session, redis_client, vault)
    delivery_id = collect_finished(session, redis_client)[0]
    delivery = session.get(CallbackDelivery, delivery_id)
    assert delivery is not None
    delivery.attempts = MAX_ATTEMPTS - 1
    session.commit()
    assert run_delivery(settings, database, delivery_id) == "failed"
    session.expire_all()
    assert session.get(CallbackDelivery, delivery_id).last_error == NO_ANSWER  # type: ignore[union-attr]


def test_a_revoked_tokens_pending_delivery_is_cancelled(
    api: Callable[..., Any],
    tenant: Tenant,
    token: str,
    session: Session,
    redis_client: Redis,
    receiver: tuple[Receiver, str],
    settings: Settings,
    database: Database,
    vault: Vault,
) -> None:
    hook, url = receiver
    _register(api, url)
    _finished_call(api, tenant, session, redis_client, vault)
    delivery_id = collect_finished(session, redis_client)[0]
    revoke_token(session, token.split("_")[1])
    assert run_delivery(settings, database, delivery_id) == "cancelled"
    assert hook.received == []


def test_the_delivery_log_lists_only_the_tokens_own_deliveries(
    api: Callable[..., Any],
    tenant: Tenant,
    make_token: Callable[..., str],
    session: Session,
    redis_client: Redis,
    vault: Vault,
) -> None:
    _register(api, "https://erp.example/hook")
    call_id = _finished_call(api, tenant, session, redis_client, vault)
    collect_finished(session, redis_client)
    mine = api("GET", "/api/v1/callback/deliveries").json["items"]
    assert [d["call_id"] for d in mine] == [call_id]
    other = make_token("other")
    theirs = api("GET", "/api/v1/callback/deliveries", as_token=other).json["items"]
    assert theirs == []
    rows = session.scalars(select(CallbackDelivery)).all()
    assert [r.status for r in rows] == [DeliveryStatus.PENDING]


def test_the_rq_jobs_collect_and_deliver_through_a_worker_on_the_system_queue(
    api: Callable[..., Any],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    receiver: tuple[Receiver, str],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
    vault: Vault,
) -> None:
    hook, url = receiver
    secret = _register(api, url)
    call_id = _finished_call(api, tenant, session, redis_client, vault)
    for name, value in settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"BILLHIVE_{name.upper()}", str(raw))
    set_runtime(None)  # the jobs build this process's runtime from the environment
    queue = Queue(SYSTEM_QUEUE, connection=redis_client)
    queue.enqueue(collect_finished_calls)
    try:
        SimpleWorker([queue], connection=redis_client).work(burst=True)
    finally:
        get_runtime().close()
        set_runtime(None)
    headers, body = hook.received[0]
    assert reference_verify(secret, headers["Billhive-Signature"], body)
    assert json.loads(body)["call"]["id"] == call_id
    session.expire_all()
    delivery = session.scalars(select(CallbackDelivery)).one()
    assert delivery.status is DeliveryStatus.DELIVERED


def test_register_cron_collects_finished_calls_every_few_seconds(redis_client: Redis) -> None:
    scheduler = CronScheduler(connection=redis_client)
    register_cron(scheduler, interval=5)
    jobs = {job.func: job for job in scheduler.get_jobs()}
    assert jobs[collect_finished_calls].queue_name == SYSTEM_QUEUE
    assert jobs[collect_finished_calls].interval == 5
    assert jobs[purge_idempotency_keys].cron == "17 3 * * *"
    assert jobs[requeue_lost_callback_deliveries].cron == "* * * * *"


def test_a_call_cancelled_through_the_api_is_announced(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis
) -> None:
    _register(api, "https://erp.example/hook")
    call_id = api(
        "POST", f"/api/v1/tenants/{tenant.id}/calls", json={"operation": "orders.list"}
    ).json["id"]
    assert api("POST", f"/api/v1/calls/{call_id}/cancel").status_code == 200
    (delivery_id,) = collect_finished(session, redis_client)
    delivery = session.get(CallbackDelivery, delivery_id)
    assert delivery is not None
    assert delivery.call_id == call_id


def test_a_finished_call_is_announced_once_however_often_the_collector_runs(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    call_id = _finished_call(api, tenant, session, redis_client, vault)
    assert len(collect_finished(session, redis_client)) == 1
    assert collect_finished(session, redis_client) == []
    deliveries = session.scalars(select(CallbackDelivery)).all()
    assert [d.call_id for d in deliveries] == [call_id]


def test_a_requeued_call_is_announced_again_under_a_new_delivery_id(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    call_id = _finished_call(api, tenant, session, redis_client, vault)
    (first,) = collect_finished(session, redis_client)
    call = session.get(Call, call_id)
    assert call is not None
    call.status = CallStatus.FAILED
    session.commit()
    assert requeue_calls([call_id], session=session, redis=redis_client, vault=vault) == 1
    call = session.get(Call, call_id)
    assert call is not None
    call.status, call.finished_at = CallStatus.SUCCEEDED, utcnow()
    session.commit()
    (second,) = collect_finished(session, redis_client)
    assert second != first
    rounds = [
        d.call_requeues
        for d in session.scalars(select(CallbackDelivery).order_by(CallbackDelivery.id))
    ]
    assert rounds == [0, 1]


def test_every_unannounced_call_is_collected_however_many_there_are(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis, vault: Vault
) -> None:
    _register(api, "https://erp.example/hook")
    call_id = _finished_call(api, tenant, session, redis_client, vault)
    token_id = session.get(Call, call_id).origin_token_id  # type: ignore[union-attr]
    session.add_all(
        Call(
            tenant_id=tenant.id,
            operation="orders.list",
            status=CallStatus.SUCCEEDED,
            finished_at=utcnow(),
            origin_token_id=token_id,
        )
        for _ in range(1_200)
    )
    session.commit()
    made = collect_finished(session, redis_client, limit=500)
    assert len(made) == 1_201
    assert session.scalar(select(func.count()).select_from(Call).where(UNANNOUNCED)) == 0
