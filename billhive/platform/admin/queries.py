"""The dashboard's list queries: tenants (search, filter, sort, pages) and calls (keyset).

Tenant search is a case-insensitive *prefix* match on the display name or the contact
e-mail, an exact match on the Billbee username through its blind index, or the tenant's
number. Prefix matching is what operators type ("acme", "info@acme") and, with the
``lower(col) COLLATE "C"`` indexes of migration 0004, PostgreSQL answers it with index range
scans at any table size; a substring search would need pg_trgm (see docs/admin.md).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from math import ceil
from typing import Any, Generic, TypeVar

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.orm import Session

from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus

TENANTS_PER_PAGE = 50
CALLS_PER_PAGE = 50
#: The deepest page the tenant list serves: OFFSET grows linearly, search narrows faster.
MAX_PAGE = 2000
SEARCH_MAX = 254

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and where it sits in the whole."""

    items: Sequence[T]
    page: int
    per_page: int
    total: int

    @property
    def pages(self) -> int:
        """How many pages there are (at least one)."""
        return max(1, min(MAX_PAGE, ceil(self.total / self.per_page)))


def _sort_key(session: Session, column: Any) -> ColumnElement[Any]:
    """``lower(col)``, with the "C" collation on PostgreSQL so its index serves it."""
    key = func.lower(column)
    if session.get_bind().dialect.name == "postgresql":
        return key.collate("C")
    return key


def like_prefix(text: str) -> str:
    """A LIKE pattern matching values that start with ``text`` (wildcards escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return escaped + "%"


SORTS = ("newest", "oldest", "name", "email")


@dataclass(frozen=True)
class TenantQuery:
    """What the tenants list was asked for (already checked by the view)."""

    q: str = ""
    status: TenantStatus | None = None
    sort: str = "newest"
    page: int = 1


def _order(session: Session, sort: str) -> list[ColumnElement[Any]]:
    if sort == "oldest":
        return [Tenant.id.asc()]
    if sort == "name":
        return [_sort_key(session, Tenant.display_name).asc(), Tenant.id.asc()]
    if sort == "email":
        return [_sort_key(session, Tenant.contact_email).asc(), Tenant.id.asc()]
    return [Tenant.id.desc()]


def _search_condition(session: Session, vault: Vault, q: str) -> ColumnElement[bool]:
    pattern = like_prefix(q.lower())
    matches: list[ColumnElement[bool]] = [
        _sort_key(session, Tenant.display_name).like(pattern, escape="\\"),
        _sort_key(session, Tenant.contact_email).like(pattern, escape="\\"),
        Tenant.username_index == vault.blind_index(q),
    ]
    if q.isdigit() and len(q) < 10:
        matches.append(Tenant.id == int(q))
    return or_(*matches)


def _filtered(session: Session, vault: Vault, query: TenantQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if query.q:
        conditions.append(_search_condition(session, vault, query.q))
    if query.status is not None:
        conditions.append(Tenant.status == query.status)
    return conditions


def search_tenants(session: Session, vault: Vault, query: TenantQuery) -> Page[Tenant]:
    """One page of tenants matching ``query``, and how many match in all."""
    conditions = _filtered(session, vault, query)
    where = and_(True, *conditions)
    total = session.scalar(select(func.count()).select_from(Tenant).where(where)) or 0
    statement = (
        select(Tenant)
        .where(where)
        .order_by(*_order(session, query.sort))
        .limit(TENANTS_PER_PAGE)
        .offset((query.page - 1) * TENANTS_PER_PAGE)
    )
    items = list(session.scalars(statement))
    return Page(items=items, page=query.page, per_page=TENANTS_PER_PAGE, total=total)


@dataclass(frozen=True)
class CallQuery:
    """Filters of the calls list; ``before`` is the keyset cursor (an id)."""

    status: CallStatus | None = None
    operation: str = ""
    tenant_id: int | None = None
    before: int | None = None


@dataclass(frozen=True)
class CallPage:
    """Newest calls first; ``next_before`` is the cursor of the following page, if any."""

    items: Sequence[Call]
    next_before: int | None


def search_calls(session: Session, query: CallQuery, *, limit: int = CALLS_PER_PAGE) -> CallPage:
    """Calls matching ``query``, newest first. Keyset paging: with a million rows a COUNT
    or a deep OFFSET would cost more than the page itself, so there is no total."""
    statement = select(Call)
    if query.status is not None:
        statement = statement.where(Call.status == query.status)
    if query.operation:
        statement = statement.where(Call.operation == query.operation)
    if query.tenant_id is not None:
        statement = statement.where(Call.tenant_id == query.tenant_id)
    if query.before is not None:
        statement = statement.where(Call.id < query.before)
    rows = list(session.scalars(statement.order_by(Call.id.desc()).limit(limit + 1)))
    next_before = rows[limit - 1].id if len(rows) > limit else None
    return CallPage(items=rows[:limit], next_before=next_before)


def tenant_names(session: Session, tenant_ids: Sequence[int]) -> dict[int, str]:
    """Display names of the given tenants (one query, for lists of calls or events)."""
    if not tenant_ids:
        return {}
    rows = session.execute(
        select(Tenant.id, Tenant.display_name).where(Tenant.id.in_(set(tenant_ids)))
    )
    return {row.id: row.display_name for row in rows}
