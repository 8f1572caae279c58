"""What a tenant may do in each status: the one owner of these rules.

Every caller (the signup and reconnect pages, the dashboard, the JSON API, the CLI, the
workers) asks these functions instead of spelling a set of statuses itself, so the rules
cannot drift apart (they once did: the dashboard handed a disabled tenant a reconnect link
the service then refused).
"""

from __future__ import annotations

from collections.abc import Callable

from billhive.tenants.models import TenantStatus

#: Statuses whose calls are refused at enqueue and never run: the tenant left or an
#: operator switched it off. (A paused or credentials-invalid tenant still takes calls:
#: they wait in its queue until it runs again.)
CLOSED = frozenset({TenantStatus.DELETED, TenantStatus.DISABLED})
#: Statuses from which a merchant may enter a new API password.
RECONNECTABLE = frozenset(TenantStatus) - CLOSED
#: Statuses from which an operator may ask Billbee about the stored credentials again
#: (a paused tenant stays paused: re-verifying would move it on).
REVERIFIABLE = frozenset(
    {TenantStatus.ACTIVE, TenantStatus.PENDING_VERIFICATION, TenantStatus.CREDENTIALS_INVALID}
)
#: Statuses an operator may pause (pausing a paused tenant is a no-op, not an error).
PAUSABLE = frozenset({TenantStatus.ACTIVE, TenantStatus.PAUSED})
#: Statuses an operator may resume; a credentials-invalid tenant resumes by itself once
#: new credentials verify.
RESUMABLE = frozenset({TenantStatus.PAUSED, TenantStatus.ACTIVE})


def takes_calls(status: TenantStatus) -> bool:
    """Whether new calls for a tenant in ``status`` are accepted (and queued ones run)."""
    return status not in CLOSED


def runs_calls(status: TenantStatus) -> bool:
    """Whether a tenant's calls run now: only an active tenant's. A paused,
    credentials-invalid or pending tenant's calls wait in its queue (``takes_calls``), so
    nothing should be started on its behalf (a feed's webhook post, for example)."""
    return status is TenantStatus.ACTIVE


def may_reconnect(status: TenantStatus) -> bool:
    """Whether a tenant in ``status`` may be handed a reconnect link and use it."""
    return status in RECONNECTABLE


def may_reverify(status: TenantStatus) -> bool:
    """Whether an operator may have Billbee check the tenant's credentials again."""
    return status in REVERIFIABLE


def may_pause(status: TenantStatus) -> bool:
    """Whether an operator may pause a tenant in ``status``."""
    return status in PAUSABLE


def may_resume(status: TenantStatus) -> bool:
    """Whether an operator may resume a tenant in ``status``."""
    return status in RESUMABLE


def statuses_where(rule: Callable[[TenantStatus], bool]) -> list[TenantStatus]:
    """The statuses ``rule`` holds for, in a stable order: for a SQL filter
    (``Tenant.status.in_(statuses_where(runs_calls))``) that asks the rule instead of
    spelling the statuses."""
    return [status for status in TenantStatus if rule(status)]
