"""What a token's callback subscribes to: event types and tenants.

A token registered before feeds existed wants ``call.finished`` only (``callback_events``
None). Feed events go to a callback that names their type, for a tenant within the
token's scope and, when the callback names tenants, among them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.feeds.models import EventType
from billhive.tokens.models import ApiToken, ApiTokenTenant

CALL_FINISHED = "call.finished"
#: Every event type a callback may subscribe to.
EVENT_TYPES: tuple[str, ...] = (CALL_FINISHED, *(t.value for t in EventType))
DEFAULT_EVENTS: tuple[str, ...] = (CALL_FINISHED,)


def events_of(token: ApiToken) -> Sequence[str]:
    """The event types ``token``'s callback wants."""
    return DEFAULT_EVENTS if token.callback_events is None else token.callback_events


def check_events(names: Iterable[str]) -> list[str]:
    """The event types, in order and without repeats; ValueError naming an unknown one."""
    out: list[str] = []
    for name in names:
        if name not in EVENT_TYPES:
            raise ValueError(f"unknown event type {name!r} (known: {', '.join(EVENT_TYPES)})")
        if name not in out:
            out.append(name)
    return out


@dataclass(frozen=True)
class Subscriber:
    """A token with a callback, and which feed events it wants."""

    token_id: int
    url: str
    types: frozenset[str]
    #: The tenants it wants events of; None: every tenant.
    tenants: frozenset[int] | None

    def wants(self, event_type: str, tenant_id: int) -> bool:
        """True when an event of this type and tenant goes to this callback."""
        return event_type in self.types and (self.tenants is None or tenant_id in self.tenants)


def feed_subscribers(session: Session) -> list[Subscriber]:
    """The callbacks that want at least one feed event type."""
    tokens = session.scalars(
        select(ApiToken).where(ApiToken.revoked_at.is_(None), ApiToken.callback_url.is_not(None))
    ).all()
    out = []
    for token in tokens:
        types = frozenset(events_of(token)) - {CALL_FINISHED}
        if not types or not token.callback_url:
            continue
        tenants: set[int] | None = None
        if not token.all_tenants:
            tenants = set(
                session.scalars(
                    select(ApiTokenTenant.tenant_id).where(ApiTokenTenant.token_id == token.id)
                )
            )
        if token.callback_tenant_ids is not None:
            chosen = set(token.callback_tenant_ids)
            tenants = chosen if tenants is None else tenants & chosen
        out.append(
            Subscriber(
                token.id,
                token.callback_url,
                types,
                None if tenants is None else frozenset(tenants),
            )
        )
    return out
