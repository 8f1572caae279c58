"""One owner for what a tenant may do in each status (billhive/tenants/lifecycle.py)."""

import re
from pathlib import Path

import pytest

from billhive.tenants import lifecycle
from billhive.tenants.models import TenantStatus

PACKAGE = Path(lifecycle.__file__).resolve().parent.parent


@pytest.mark.parametrize("status", [TenantStatus.DELETED, TenantStatus.DISABLED])
def test_a_closed_tenant_takes_no_calls_and_cannot_reconnect(status: TenantStatus) -> None:
    assert not lifecycle.takes_calls(status)
    assert not lifecycle.may_reconnect(status)
    assert not lifecycle.may_reverify(status)


@pytest.mark.parametrize(
    "status",
    [
        TenantStatus.ACTIVE,
        TenantStatus.PAUSED,
        TenantStatus.PENDING_VERIFICATION,
        TenantStatus.CREDENTIALS_INVALID,
    ],
)
def test_an_open_tenant_takes_calls_and_may_reconnect(status: TenantStatus) -> None:
    assert lifecycle.takes_calls(status)
    assert lifecycle.may_reconnect(status)


def test_only_an_active_tenants_calls_run() -> None:
    assert lifecycle.statuses_where(lifecycle.runs_calls) == [TenantStatus.ACTIVE]


def test_the_statuses_a_rule_holds_for_are_listed_for_sql_filters() -> None:
    closed = lifecycle.statuses_where(lambda status: not lifecycle.takes_calls(status))
    assert set(closed) == {TenantStatus.DELETED, TenantStatus.DISABLED}


def test_a_paused_tenant_is_not_reverified_so_the_operators_pause_holds() -> None:
    assert not lifecycle.may_reverify(TenantStatus.PAUSED)
    assert lifecycle.may_resume(TenantStatus.PAUSED)


def test_a_tenant_with_refused_credentials_resumes_only_by_verifying() -> None:
    assert not lifecycle.may_resume(TenantStatus.CREDENTIALS_INVALID)
    assert not lifecycle.may_pause(TenantStatus.CREDENTIALS_INVALID)
    assert lifecycle.may_reverify(TenantStatus.CREDENTIALS_INVALID)


def test_no_module_but_the_lifecycle_spells_a_set_of_tenant_statuses() -> None:
    # A set of statuses written out elsewhere is a second owner of a rule: the four copies
    # that existed once had drifted apart.
    pattern = re.compile(r"(frozenset|set)\(\s*\{\s*TenantStatus\.|\{\s*TenantStatus\.\w+,")
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.name != "lifecycle.py" and pattern.search(path.read_text())
    ]
    assert offenders == []
