"""The tenant service: signup, reconnect, deletion and the audit log.

Billbee's answers come from verifiers that raise the client's own typed errors; the
same flows over real HTTP against the sandbox are in test_signup_sandbox.py.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.billbee.errors import (
    ApiError,
    BillbeeError,
    CredentialsRejected,
    ErrorCode,
    ServerError,
    Throttled,
    TransportError,
)
from billhive.tenants.audit import set_status
from billhive.tenants.errors import TenantStateError
from billhive.tenants.models import AuditEvent, Tenant, TenantCredentials, TenantStatus
from billhive.tenants.service import (
    ApiAccessNotEnabled,
    CredentialsRefused,
    DuplicateUsername,
    RulesViolated,
    SignupRequest,
    TenantError,
    delete_tenant,
    open_credentials,
    reconnect,
    sign_up,
)
from billhive.tenants.vault import Vault

USERNAME = "merchant@shop.example"
PASSWORD = "Tr1cky!Sample#42"
NEW_PASSWORD = "Fresh!Sample#43"


class FakeBillbee:
    """A verifier that records calls and answers with a given Billbee error (or accepts)."""

    def __init__(self, error: BillbeeError | None = None) -> None:
        self.error = error
        self.calls: list[tuple[str, str]] = []

    def __call__(self, username: str, password: str) -> None:
        self.calls.append((username, password))
        if self.error is not None:
            raise self.error


def request(username: str = USERNAME, password: str = PASSWORD) -> SignupRequest:
    return SignupRequest(
        display_name="Example Shop",
        contact_email="owner@shop.example",
        username=username,
        password=password,
        invoice_creation_allowed=True,
    )


def count(session: Session, model: type) -> int:
    return int(session.scalar(select(func.count()).select_from(model)) or 0)


UNREACHABLE: list[Callable[[], BillbeeError]] = [
    lambda: Throttled("429", retry_after=1.0, retry_after_was_sent=True),
    lambda: ServerError("503", status_code=503),
    lambda: TransportError("timed out", may_have_reached_server=False),
    lambda: ApiError("internal", error_code=ErrorCode.InternalError),
]


def test_accepted_credentials_make_an_active_tenant(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    assert tenant.status == TenantStatus.ACTIVE
    assert tenant.verified_at is not None
    assert tenant.invoice_creation_allowed is True


def test_a_signed_up_tenant_stores_both_credentials_sealed(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    credentials = open_credentials(session, vault, tenant.id)
    assert (credentials.username, credentials.password) == (USERNAME, PASSWORD)
    row = session.get(TenantCredentials, tenant.id)
    assert row is not None
    assert PASSWORD.encode() not in row.password_sealed


def test_the_username_is_trimmed_before_it_is_verified_and_stored(
    session: Session, vault: Vault
) -> None:
    billbee = FakeBillbee()
    tenant = sign_up(session, vault, request(username=f"  {USERNAME} "), verify=billbee)
    assert billbee.calls == [(USERNAME, PASSWORD)]
    assert open_credentials(session, vault, tenant.id).username == USERNAME


def test_a_signup_is_written_to_the_audit_log(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    event = session.scalars(select(AuditEvent)).one()
    assert (event.tenant_id, event.actor, event.action) == (tenant.id, "merchant", "signed_up")
    assert (event.from_status, event.to_status) == (None, "active")


def test_broken_rules_stop_the_signup_before_billbee_is_asked(
    session: Session, vault: Vault
) -> None:
    billbee = FakeBillbee()
    with pytest.raises(RulesViolated) as caught:
        sign_up(session, vault, request(username="a:b", password="short"), verify=billbee)
    codes = {(p.field, p.code) for p in caught.value.problems}
    assert {("username", "has_colon"), ("password", "too_short")} <= codes
    assert billbee.calls == []
    assert count(session, Tenant) == 0


def test_an_empty_display_name_and_a_bad_email_are_refused(session: Session, vault: Vault) -> None:
    bad = SignupRequest("  ", "not-an-email", USERNAME, PASSWORD)
    with pytest.raises(RulesViolated) as caught:
        sign_up(session, vault, bad, verify=FakeBillbee())
    assert {p.field for p in caught.value.problems} == {"display_name", "contact_email"}


def test_a_username_already_connected_is_refused_whatever_its_case(
    session: Session, vault: Vault
) -> None:
    sign_up(session, vault, request(), verify=FakeBillbee())
    billbee = FakeBillbee()
    with pytest.raises(DuplicateUsername):
        sign_up(session, vault, request(username=USERNAME.upper()), verify=billbee)
    # Billbee is asked first: only proven credentials learn that the username is taken.
    assert billbee.calls == [(USERNAME.upper(), PASSWORD)]
    assert count(session, Tenant) == 1


def test_refused_credentials_store_nothing(session: Session, vault: Vault) -> None:
    with pytest.raises(CredentialsRefused):
        sign_up(session, vault, request(), verify=FakeBillbee(CredentialsRejected("401")))
    assert count(session, Tenant) == count(session, TenantCredentials) == 0


def test_api_access_switched_off_stores_nothing(session: Session, vault: Vault) -> None:
    off = ApiError("off", error_code=ErrorCode.ApiNotActivated)
    with pytest.raises(ApiAccessNotEnabled):
        sign_up(session, vault, request(), verify=FakeBillbee(off))
    assert count(session, Tenant) == 0


def test_an_account_without_the_api_service_is_refused(session: Session, vault: Vault) -> None:
    not_booked = ApiError("not booked", error_code=ErrorCode.APIServiceNotBooked)
    with pytest.raises(TenantError, match="APIServiceNotBooked"):
        sign_up(session, vault, request(), verify=FakeBillbee(not_booked))
    assert count(session, Tenant) == 0


@pytest.mark.parametrize("error", UNREACHABLE, ids=["throttled", "5xx", "timeout", "internal"])
def test_billbee_unreachable_stores_the_tenant_pending_verification(
    session: Session, vault: Vault, error: Callable[[], BillbeeError]
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee(error()))
    assert tenant.status == TenantStatus.PENDING_VERIFICATION
    assert tenant.verified_at is None
    assert tenant.last_error
    assert open_credentials(session, vault, tenant.id).password == PASSWORD


def test_error_messages_hold_no_credential(session: Session, vault: Vault) -> None:
    with pytest.raises(TenantError) as caught:
        sign_up(session, vault, request(), verify=FakeBillbee(CredentialsRejected("401")))
    assert PASSWORD not in str(caught.value)
    assert USERNAME not in str(caught.value)


def test_a_signup_request_repr_hides_username_and_password() -> None:
    shown = repr(request())
    assert USERNAME not in shown
    assert PASSWORD not in shown


def test_reconnecting_with_an_accepted_password_makes_the_tenant_active(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    set_status(session, tenant, TenantStatus.CREDENTIALS_INVALID, actor="system", reason="401")
    session.commit()
    billbee = FakeBillbee()
    reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=billbee)
    assert billbee.calls == [(USERNAME, NEW_PASSWORD)]
    assert tenant.status == TenantStatus.ACTIVE
    assert open_credentials(session, vault, tenant.id).password == NEW_PASSWORD


def test_a_refused_reconnect_keeps_the_old_password(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    set_status(session, tenant, TenantStatus.CREDENTIALS_INVALID, actor="system", reason="401")
    session.commit()
    with pytest.raises(CredentialsRefused):
        reconnect(
            session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee(CredentialsRejected("x"))
        )
    session.expire_all()
    assert tenant.status == TenantStatus.CREDENTIALS_INVALID
    assert open_credentials(session, vault, tenant.id).password == PASSWORD


def test_a_reconnect_while_billbee_is_unreachable_waits_beside_the_stored_password(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    set_status(session, tenant, TenantStatus.CREDENTIALS_INVALID, actor="system", reason="401")
    session.commit()
    down = FakeBillbee(ServerError("502", status_code=502))
    done = reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=down)
    assert not done.verified
    assert tenant.status == TenantStatus.CREDENTIALS_INVALID
    assert open_credentials(session, vault, tenant.id).password == PASSWORD
    row = session.get(TenantCredentials, tenant.id)
    assert row is not None and row.pending_password_sealed is not None
    assert NEW_PASSWORD.encode() not in row.pending_password_sealed


def test_a_reconnect_with_a_password_breaking_the_rules_is_refused(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    with pytest.raises(RulesViolated):
        reconnect(session, vault, tenant.id, "no-rules", verify=FakeBillbee())


def test_a_deleted_tenant_cannot_reconnect(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    delete_tenant(session, tenant.id, actor="merchant", reason="leaving")
    with pytest.raises(TenantStateError):
        reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee())


def test_deleting_a_tenant_destroys_its_data_key_and_ciphertexts(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    delete_tenant(session, tenant.id, actor="cli", reason="asked to leave")
    assert count(session, TenantCredentials) == 0
    assert tenant.status == TenantStatus.DELETED
    assert tenant.username_index is None
    with pytest.raises(TenantStateError):
        open_credentials(session, vault, tenant.id)


def test_a_deleted_tenants_audit_history_stays_without_secrets(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    delete_tenant(session, tenant.id, actor="admin:3", reason="asked to leave")
    events = session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["signed_up", "deleted"]
    assert (events[1].actor, events[1].from_status, events[1].to_status) == (
        "admin:3",
        "active",
        "deleted",
    )
    dumped = " ".join(f"{e.reason} {e.details}" for e in events)
    assert PASSWORD not in dumped
    assert USERNAME not in dumped


def test_a_deleted_tenants_username_can_sign_up_again(session: Session, vault: Vault) -> None:
    first = sign_up(session, vault, request(), verify=FakeBillbee())
    delete_tenant(session, first.id, actor="merchant", reason="leaving")
    second = sign_up(session, vault, request(), verify=FakeBillbee())
    assert second.id != first.id
    assert second.status == TenantStatus.ACTIVE


def test_deleting_twice_is_harmless(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    delete_tenant(session, tenant.id, actor="merchant", reason="leaving")
    delete_tenant(session, tenant.id, actor="merchant", reason="leaving")
    deletions = session.scalars(select(AuditEvent).where(AuditEvent.action == "deleted")).all()
    assert len(deletions) == 1


def test_deleting_an_unknown_tenant_names_it(session: Session) -> None:
    with pytest.raises(TenantError, match="Tenant 999 does not exist"):
        delete_tenant(session, 999, actor="cli", reason="typo")


def test_setting_a_status_writes_who_from_to_and_why(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    set_status(session, tenant, TenantStatus.PAUSED, actor="admin:1", reason="holiday")
    session.commit()
    event = session.scalars(select(AuditEvent).order_by(AuditEvent.id.desc())).first()
    assert event is not None
    assert (event.actor, event.from_status, event.to_status, event.reason) == (
        "admin:1",
        "active",
        "paused",
        "holiday",
    )


# -- only verified credentials claim a username or replace a password (issue 13) -------


def _down() -> FakeBillbee:
    return FakeBillbee(ServerError("503", status_code=503))


def _fresh(session: Session, tenant_id: int) -> Tenant:
    session.expire_all()
    found = session.get(Tenant, tenant_id)
    assert found is not None
    return found


def test_an_unverified_signup_claims_no_username(session: Session, vault: Vault) -> None:
    waiting = sign_up(session, vault, request(), verify=_down())
    assert waiting.status == TenantStatus.PENDING_VERIFICATION
    assert waiting.username_index is None
    assert waiting.pending_username_index == vault.blind_index(USERNAME)


def test_an_outage_signup_cannot_squat_a_connected_merchants_username(
    session: Session, vault: Vault
) -> None:
    merchant = sign_up(session, vault, request(), verify=FakeBillbee())
    squatter = sign_up(session, vault, request(password="Squat!ter#2026x"), verify=_down())
    assert squatter.id != merchant.id
    assert _fresh(session, merchant.id).status == TenantStatus.ACTIVE
    assert _fresh(session, merchant.id).username_index == vault.blind_index(USERNAME)
    assert open_credentials(session, vault, merchant.id).password == PASSWORD


def test_a_verified_signup_supersedes_the_unverified_ones_of_its_username(
    session: Session, vault: Vault
) -> None:
    squatter = sign_up(session, vault, request(password="Squat!ter#2026x"), verify=_down())
    merchant = sign_up(session, vault, request(username=USERNAME.upper()), verify=FakeBillbee())
    assert merchant.status == TenantStatus.ACTIVE
    gone = _fresh(session, squatter.id)
    assert gone.status == TenantStatus.DELETED
    assert gone.pending_username_index is None
    assert session.get(TenantCredentials, squatter.id) is None
    event = session.scalars(
        select(AuditEvent).where(
            AuditEvent.tenant_id == squatter.id, AuditEvent.action == "superseded"
        )
    ).one()
    assert USERNAME not in event.reason and "Squat" not in repr(event.details)


def test_a_wrong_password_for_a_taken_username_answers_like_for_a_free_one(
    session: Session, vault: Vault
) -> None:
    sign_up(session, vault, request(), verify=FakeBillbee())
    answers = []
    for username in (USERNAME, "someone-else@shop.example"):
        billbee = FakeBillbee(CredentialsRejected("401", status_code=401))
        with pytest.raises(TenantError) as caught:
            sign_up(session, vault, request(username=username), verify=billbee)
        answers.append((type(caught.value), str(caught.value), len(billbee.calls)))
    assert answers[0] == answers[1] == (CredentialsRefused, str(CredentialsRefused()), 1)


def test_an_unreachable_billbee_answers_alike_for_a_taken_and_a_free_username(
    session: Session, vault: Vault
) -> None:
    sign_up(session, vault, request(), verify=FakeBillbee())
    taken = sign_up(session, vault, request(), verify=_down())
    free = sign_up(session, vault, request(username="free@shop.example"), verify=_down())
    assert taken.status == free.status == TenantStatus.PENDING_VERIFICATION
    assert taken.last_error == free.last_error


def test_a_reconnect_while_billbee_is_unreachable_keeps_the_working_password_in_use(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=_down())
    assert _fresh(session, tenant.id).status == TenantStatus.ACTIVE
    assert open_credentials(session, vault, tenant.id).password == PASSWORD


def test_a_reconnect_keeps_an_operators_pause(session: Session, vault: Vault) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    set_status(session, tenant, TenantStatus.PAUSED, actor="admin:1", reason="unpaid invoice")
    session.commit()
    done = reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee())
    assert done.verified
    assert _fresh(session, tenant.id).status == TenantStatus.PAUSED
    assert open_credentials(session, vault, tenant.id).password == NEW_PASSWORD


def test_an_accepted_reconnect_drops_a_password_still_waiting(
    session: Session, vault: Vault
) -> None:
    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    reconnect(session, vault, tenant.id, "Waiting!Pass#2026", verify=_down())
    reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee())
    row = session.get(TenantCredentials, tenant.id)
    assert row is not None and row.pending_password_sealed is None
    assert open_credentials(session, vault, tenant.id).password == NEW_PASSWORD


def test_a_reconnect_link_number_is_spent_once_and_replaced_by_a_new_link(
    session: Session, vault: Vault
) -> None:
    from billhive.tenants.service import LinkSpent, issue_reconnect_link

    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    first = issue_reconnect_link(session, tenant.id)
    second = issue_reconnect_link(session, tenant.id)
    with pytest.raises(LinkSpent):
        reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee(), link_serial=first)
    reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee(), link_serial=second)
    with pytest.raises(LinkSpent):
        reconnect(
            session, vault, tenant.id, "Another!Pass#2026", verify=FakeBillbee(), link_serial=second
        )
    assert open_credentials(session, vault, tenant.id).password == NEW_PASSWORD


def test_a_refused_password_does_not_spend_the_link(session: Session, vault: Vault) -> None:
    from billhive.tenants.service import issue_reconnect_link

    tenant = sign_up(session, vault, request(), verify=FakeBillbee())
    serial = issue_reconnect_link(session, tenant.id)
    with pytest.raises(CredentialsRefused):
        reconnect(
            session,
            vault,
            tenant.id,
            NEW_PASSWORD,
            verify=FakeBillbee(CredentialsRejected("401")),
            link_serial=serial,
        )
    reconnect(session, vault, tenant.id, NEW_PASSWORD, verify=FakeBillbee(), link_serial=serial)
    assert open_credentials(session, vault, tenant.id).password == NEW_PASSWORD
