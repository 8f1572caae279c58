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

from sqlalchemy import ColumnElement, and_, bindparam, func, select, union
from sqlalchemy.orm import Session, aliased
from sqlalchemy.sql.elements import BindParameter

from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault
from billhive.workers.models import Call, CallStatus

TENANTS_PER_PAGE = 50
CALLS_PER_PAGE = 50
#: The deepest page the tenant list serves: OFFSET grows linearly, search narrows faster.
MAX_PAGE = 2000
#: A text search counts its matches up to this many: counting ten thousand matches of a
#: two-letter prefix costs more than the page itself, and nobody pages through them.
SEARCH_COUNT_CAP = 1000
SEARCH_MAX = 254

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    """One page of a list and where it sits in the whole."""

    items: Sequence[T]
    page: int
    per_page: int
    total: int
    #: True when ``total`` is only a lower bound (more matches were not counted).
    capped: bool = False

    @property
    def pages(self) -> int:
        """How many pages there are (at least one; as far as counted when capped)."""
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


# No sort by e-mail: contact e-mails are sealed (tenants/contact.py).
SORTS = ("newest", "oldest", "name")


@dataclass(frozen=True)
class TenantQuery:
    """What the tenants list was asked for (already checked by the view)."""

    q: str = ""
    status: TenantStatus | None = None
    sort: str = "newest"
    page: int = 1


def _order(session: Session, sort: str, entity: Any = Tenant) -> list[ColumnElement[Any]]:
    if sort == "oldest":
        return [entity.id.asc()]
    if sort == "name":
        return [_sort_key(session, entity.display_name).asc(), entity.id.asc()]
    return [entity.id.desc()]


def _search_branches(session: Session, vault: Vault, q: str) -> list[ColumnElement[bool]]:
    """One index-friendly condition per way a tenant can match ``q``.

    Text with an "@" is looked for as an exact contact e-mail (through its blind index: the
    e-mails are sealed), other text as the start of display names; both are also tried
    as an exact Billbee username, digits also as the tenant's number.
    """
    # The pattern is rendered into the SQL text (safely quoted) rather than sent as a
    # parameter: PostgreSQL turns ``LIKE 'abc%'`` into an index range only for a constant,
    # and psycopg's prepared statements would otherwise get a generic plan (a full scan).
    pattern: BindParameter[str] = bindparam("pattern", like_prefix(q.lower()), literal_execute=True)
    index = vault.blind_index(q)
    branches: list[ColumnElement[bool]] = [
        Tenant.contact_email_index == vault.email_index(q)
        if "@" in q
        else _sort_key(session, Tenant.display_name).like(pattern, escape="\\"),
        Tenant.username_index == index,
        # Signups still waiting for Billbee hold the username without claiming it.
        Tenant.pending_username_index == index,
    ]
    if q.isdigit() and len(q) < 10:
        branches.append(Tenant.id == int(q))
    return branches


def _listing(session: Session, query: TenantQuery) -> Page[Tenant]:
    """No search text: an exact count and one ordered page."""
    where = and_(True, *([Tenant.status == query.status] if query.status else []))
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


def _search(session: Session, vault: Vault, query: TenantQuery) -> Page[Tenant]:
    """Search text: a union of one ordered, limited query per branch, then the page.

    One query with ``name LIKE .. OR username = ..`` cannot use the name index as a range
    while also reading it in order, so PostgreSQL would walk the index from its start;
    each branch alone is a range scan, and each returns at most the rows the page needs.
    """
    status = [Tenant.status == query.status] if query.status else []
    branches = _search_branches(session, vault, query.q)
    counted = union(
        *(
            select(select(Tenant.id).where(b, *status).limit(SEARCH_COUNT_CAP + 1).subquery())
            for b in branches
        )
    ).subquery()
    total = session.scalar(select(func.count()).select_from(counted)) or 0
    offset = (query.page - 1) * TENANTS_PER_PAGE
    order = _order(session, query.sort)
    rows = union(
        *(
            select(
                select(Tenant)
                .where(b, *status)
                .order_by(*order)
                .limit(offset + TENANTS_PER_PAGE)
                .subquery()
            )
            for b in branches
        )
    ).subquery()
    found = aliased(Tenant, rows)
    statement = (
        select(found)
        .order_by(*_order(session, query.sort, found))
        .limit(TENANTS_PER_PAGE)
        .offset(offset)
    )
    items = list(session.scalars(statement))
    capped = total > SEARCH_COUNT_CAP
    return Page(
        items=items,
        page=query.page,
        per_page=TENANTS_PER_PAGE,
        total=min(total, SEARCH_COUNT_CAP),
        capped=capped,
    )


def search_tenants(session: Session, vault: Vault, query: TenantQuery) -> Page[Tenant]:
    """One page of tenants matching ``query``, and how many match (capped for searches)."""
    if query.q:
        return _search(session, vault, query)
    return _listing(session, query)


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
