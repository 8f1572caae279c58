"""The verification job: a pending tenant is verified later, retried while Billbee is down."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from rq.job import JobStatus
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.billbee.errors import (
    ApiError,
    BillbeeError,
    CredentialsRejected,
    ErrorCode,
    ServerError,
)
from billhive.config import Settings
from billhive.sandbox import create_sandbox_app
from billhive.tenants.audit import set_status
from billhive.tenants.models import AuditEvent, Tenant, TenantCredentials, TenantStatus
from billhive.tenants.service import SignupRequest, open_credentials, reconnect, sign_up
from billhive.tenants.vault import Vault
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.verification import (
    RETRY_INTERVALS,
    BillbeeUnreachable,
    enqueue_verification,
    run_verification,
    sweep_pending_verifications,
    verification_job_id,
)

API_KEY = "verification-test-key"
USERNAME = "pending@shop.example"
PASSWORD = "Tr1cky!Sample#42"


class FakeBillbee:
    """A verifier answering with a given Billbee error, or accepting."""

    def __init__(self, error: BillbeeError | None = None) -> None:
        self.error = error
        self.calls = 0

    def __call__(self, username: str, password: str) -> None:
        self.calls += 1
        if self.error is not None:
            raise self.error


@pytest.fixture
def pending(session: Session, settings: Settings) -> Tenant:
    """A tenant stored while Billbee was failing."""
    request = SignupRequest("Pending Shop", "owner@shop.example", USERNAME, PASSWORD)
    down = FakeBillbee(ServerError("503", status_code=503))
    return sign_up(session, Vault.from_settings(settings), request, verify=down)


def status_of(session: Session, tenant_id: int) -> Tenant:
    session.expire_all()
    tenant = session.get(Tenant, tenant_id)
    assert tenant is not None
    return tenant


def test_enqueueing_puts_only_the_tenant_id_on_the_system_queue(
    redis_client: Redis, pending: Tenant
) -> None:
    job = enqueue_verification(redis_client, pending.id)
    assert job.origin == SYSTEM_QUEUE
    assert job.args == (pending.id,)
    assert job.kwargs == {}


def test_an_enqueued_verification_retries_with_backoff(
    redis_client: Redis, pending: Tenant
) -> None:
    job = enqueue_verification(redis_client, pending.id)
    assert job.retries_left == len(RETRY_INTERVALS)
    assert job.retry_intervals == RETRY_INTERVALS


def test_enqueueing_a_tenant_already_waiting_adds_no_second_job(
    redis_client: Redis, pending: Tenant
) -> None:
    first = enqueue_verification(redis_client, pending.id)
    second = enqueue_verification(redis_client, pending.id)
    assert second.id == first.id
    assert Queue(SYSTEM_QUEUE, connection=redis_client).count == 1


def test_accepted_credentials_make_the_tenant_active(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    assert run_verification(settings, pending.id, verify=FakeBillbee()) == "active"
    tenant = status_of(session, pending.id)
    assert tenant.status == TenantStatus.ACTIVE
    assert tenant.verified_at is not None
    assert tenant.last_error is None


def test_a_verification_is_audited_as_done_by_the_system(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    run_verification(settings, pending.id, verify=FakeBillbee())
    event = session.scalars(select(AuditEvent).where(AuditEvent.action == "verified")).one()
    assert (event.actor, event.from_status, event.to_status) == (
        "system",
        "pending_verification",
        "active",
    )


def test_refused_credentials_make_the_tenant_credentials_invalid(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    refused = FakeBillbee(CredentialsRejected("401", status_code=401))
    assert run_verification(settings, pending.id, verify=refused) == "credentials_invalid"
    tenant = status_of(session, pending.id)
    assert tenant.status == TenantStatus.CREDENTIALS_INVALID
    assert tenant.last_error == "Billbee refused the username or API password."


def test_api_access_switched_off_is_recorded_as_the_last_error(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    off = FakeBillbee(ApiError("off", error_code=ErrorCode.ApiNotActivated))
    assert run_verification(settings, pending.id, verify=off) == "credentials_invalid"
    assert "API access is switched off" in (status_of(session, pending.id).last_error or "")


def test_billbee_unreachable_raises_so_the_job_is_retried(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    with pytest.raises(BillbeeUnreachable):
        run_verification(settings, pending.id, verify=FakeBillbee(ServerError("502")))
    tenant = status_of(session, pending.id)
    assert tenant.status == TenantStatus.PENDING_VERIFICATION
    assert tenant.last_error == "Billbee could not be asked: ServerError."


def test_a_tenant_no_longer_pending_is_not_verified_again(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    tenant = status_of(session, pending.id)
    set_status(session, tenant, TenantStatus.PAUSED, actor="admin:1", reason="holiday")
    session.commit()
    billbee = FakeBillbee()
    assert run_verification(settings, pending.id, verify=billbee) == "paused"
    assert billbee.calls == 0


def test_a_tenant_that_no_longer_exists_is_not_retried(settings: Settings) -> None:
    billbee = FakeBillbee()
    assert run_verification(settings, 4040, verify=billbee) == "not_found"
    assert billbee.calls == 0


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def job_environment(
    monkeypatch: pytest.MonkeyPatch,
    database_url: str,
    redis_url: str,
    test_secrets: dict[str, str],
    tmp_path: Path,
) -> Callable[[str], None]:
    """Point the settings a job loads for itself at the test database and a Billbee URL."""

    def point_at(billbee_base_url: str) -> None:
        monkeypatch.setenv("BILLHIVE_ENV", "test")
        monkeypatch.setenv("BILLHIVE_INSTANCE_PATH", str(tmp_path / "job-instance"))
        monkeypatch.setenv("BILLHIVE_DATABASE_URL", database_url)
        monkeypatch.setenv("BILLHIVE_REDIS_URL", redis_url)
        monkeypatch.setenv("BILLHIVE_BILLBEE_BASE_URL", billbee_base_url)
        monkeypatch.setenv("BILLHIVE_BILLBEE_TIMEOUT", "5")
        for name, value in test_secrets.items():
            monkeypatch.setenv(f"BILLHIVE_{name.upper()}", value)
        monkeypatch.setenv("BILLHIVE_BILLBEE_API_KEY", API_KEY)

    return point_at


def test_a_worker_reschedules_the_job_while_billbee_cannot_be_reached(
    session: Session,
    redis_client: Redis,
    pending: Tenant,
    job_environment: Callable[[str], None],
) -> None:
    job_environment(f"http://127.0.0.1:{_closed_port()}/api/v1")
    job = enqueue_verification(redis_client, pending.id)
    SimpleWorker([Queue(SYSTEM_QUEUE, connection=redis_client)], connection=redis_client).work(
        burst=True
    )
    assert job.get_status(refresh=True) == JobStatus.SCHEDULED
    assert status_of(session, pending.id).status == TenantStatus.PENDING_VERIFICATION


def test_a_worker_activates_a_pending_tenant_once_billbee_answers(
    session: Session,
    redis_client: Redis,
    pending: Tenant,
    job_environment: Callable[[str], None],
    live_server_factory: Callable[[Any], Any],
) -> None:
    account = {"username": USERNAME, "password": PASSWORD}
    sandbox = live_server_factory(create_sandbox_app(api_keys=[API_KEY], accounts=[account]))
    job_environment(f"{sandbox.url}/api/v1")
    job = enqueue_verification(redis_client, pending.id)
    SimpleWorker([Queue(SYSTEM_QUEUE, connection=redis_client)], connection=redis_client).work(
        burst=True
    )
    assert job.get_status(refresh=True) == JobStatus.FINISHED
    assert job.return_value() == "active"
    assert status_of(session, pending.id).status == TenantStatus.ACTIVE


def test_the_sweep_enqueues_a_verification_for_every_pending_tenant(
    redis_client: Redis, pending: Tenant, job_environment: Callable[[str], None]
) -> None:
    job_environment("http://127.0.0.1:9/api/v1")
    assert sweep_pending_verifications() == 1
    queued = Queue(SYSTEM_QUEUE, connection=redis_client).get_job_ids()
    assert queued == [verification_job_id(pending.id)]


# -- waiting signups and reconnect passwords (issue 13) --------------------------------

NEW_PASSWORD = "Fresh!Sample#43"


@pytest.fixture
def connected(session: Session, settings: Settings) -> Tenant:
    """A tenant whose credentials Billbee accepted at signup."""
    request = SignupRequest("Connected Shop", "owner@shop.example", USERNAME, PASSWORD)
    return sign_up(session, Vault.from_settings(settings), request, verify=FakeBillbee())


def _reconnect_while_down(session: Session, settings: Settings, tenant: Tenant) -> None:
    down = FakeBillbee(ServerError("503", status_code=503))
    reconnect(session, Vault.from_settings(settings), tenant.id, NEW_PASSWORD, verify=down)


def test_a_verified_waiting_signup_claims_its_username(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    run_verification(settings, pending.id, verify=FakeBillbee())
    tenant = status_of(session, pending.id)
    assert tenant.username_index == Vault.from_settings(settings).blind_index(USERNAME)
    assert tenant.pending_username_index is None


def test_a_waiting_signup_of_a_username_connected_meanwhile_is_superseded(
    session: Session, settings: Settings, pending: Tenant
) -> None:
    request = SignupRequest("The Merchant", "owner@shop.example", USERNAME, PASSWORD)
    merchant = sign_up(session, Vault.from_settings(settings), request, verify=FakeBillbee())
    assert status_of(session, pending.id).status == TenantStatus.DELETED  # at once
    assert run_verification(settings, pending.id, verify=FakeBillbee()) == "deleted"
    assert status_of(session, merchant.id).status == TenantStatus.ACTIVE


def test_a_waiting_reconnect_password_replaces_the_stored_one_once_accepted(
    session: Session, settings: Settings, connected: Tenant
) -> None:
    _reconnect_while_down(session, settings, connected)
    billbee = RecordingBillbee()
    assert run_verification(settings, connected.id, verify=billbee) == "active"
    assert billbee.passwords == [NEW_PASSWORD]
    vault = Vault.from_settings(settings)
    session.expire_all()  # the verification wrote through its own session
    assert open_credentials(session, vault, connected.id).password == NEW_PASSWORD
    session.expire_all()
    assert session.get(TenantCredentials, connected.id).pending_password_sealed is None  # type: ignore[union-attr]


def test_a_waiting_reconnect_password_refused_later_leaves_the_stored_one(
    session: Session, settings: Settings, connected: Tenant
) -> None:
    _reconnect_while_down(session, settings, connected)
    refused = FakeBillbee(CredentialsRejected("401", status_code=401))
    assert run_verification(settings, connected.id, verify=refused) == "active"
    vault = Vault.from_settings(settings)
    session.expire_all()  # the verification wrote through its own session
    assert open_credentials(session, vault, connected.id).password == PASSWORD
    session.expire_all()
    assert session.get(TenantCredentials, connected.id).pending_password_sealed is None  # type: ignore[union-attr]
    actions = session.scalars(select(AuditEvent.action).where(AuditEvent.tenant_id == connected.id))
    assert "reconnect_refused" in list(actions)


def test_a_paused_tenants_waiting_password_is_verified_and_the_pause_kept(
    session: Session, settings: Settings, connected: Tenant
) -> None:
    set_status(
        session, status_of(session, connected.id), TenantStatus.PAUSED, actor="admin:1", reason="x"
    )
    session.commit()
    _reconnect_while_down(session, settings, connected)
    assert run_verification(settings, connected.id, verify=FakeBillbee()) == "paused"
    vault = Vault.from_settings(settings)
    session.expire_all()  # the verification wrote through its own session
    assert open_credentials(session, vault, connected.id).password == NEW_PASSWORD


def test_the_sweep_also_enqueues_tenants_with_a_waiting_password(
    session: Session,
    settings: Settings,
    redis_client: Redis,
    connected: Tenant,
    job_environment: Callable[[str], None],
) -> None:
    _reconnect_while_down(session, settings, connected)
    job_environment("http://127.0.0.1:9/api/v1")
    assert sweep_pending_verifications() == 1
    queued = Queue(SYSTEM_QUEUE, connection=redis_client).get_job_ids()
    assert queued == [verification_job_id(connected.id)]


class RecordingBillbee:
    """Accepts, remembering the passwords it was asked about (test-only, never logged)."""

    def __init__(self) -> None:
        self.passwords: list[str] = []

    def __call__(self, username: str, password: str) -> None:
        self.passwords.append(password)
