"""``/api/v1/events``: the feed events of the token's tenants, to catch up or replay."""

from __future__ import annotations

from flask import jsonify, request
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.feeds.models import EventType, FeedEvent
from billhive.platform import extensions
from billhive.platform.api.auth import current_scope
from billhive.platform.api.blueprint import bp
from billhive.platform.api.errors import ApiError
from billhive.platform.api.parsing import MAX_BIG_ID, MAX_ID, query_int, query_limit
from billhive.platform.api.schemas import EventOut

FEED_EVENT_TYPES = frozenset(t.value for t in EventType)


def _types() -> list[EventType] | None:
    raw = request.args.get("types")
    if raw is None:
        return None
    names = [n.strip() for n in raw.split(",") if n.strip()]
    unknown = [n for n in names if n not in FEED_EVENT_TYPES]
    if not names or unknown:
        allowed = ", ".join(sorted(FEED_EVENT_TYPES))
        raise ApiError(
            400,
            "invalid_query",
            f"types must be a comma-separated list of: {allowed}.",
            field="types",
        )
    return [EventType(n) for n in names]


@bp.get("/events")
def list_events() -> ResponseReturnValue:
    """Announced feed events in sequence order, ``limit`` per page after sequence
    ``after``; optionally of some ``types`` and of one ``tenant_id``. Only the token's
    tenants.

    Sequence numbers are given at announcement and become visible in order (see
    ``FeedEvent``), so a page never passes over an event that a later page would show
    below its cursor; events not yet announced wait for the next collection."""
    limit = query_limit()
    after = query_int("after", default=0, low=0, high=MAX_BIG_ID) or 0
    tenant_id = query_int("tenant_id", default=None, low=1, high=MAX_ID)
    types = _types()
    scope = current_scope()
    query = select(FeedEvent).where(FeedEvent.seq > after).order_by(FeedEvent.seq).limit(limit + 1)
    if tenant_id is not None:
        if not scope.allows(tenant_id):
            return jsonify({"items": [], "next_after": None})
        query = query.where(FeedEvent.tenant_id == tenant_id)
    elif scope.tenant_ids is not None:
        query = query.where(FeedEvent.tenant_id.in_(sorted(scope.tenant_ids)))
    if types is not None:
        query = query.where(FeedEvent.type.in_(types))
    rows = list(extensions.db_session().scalars(query))
    more = len(rows) > limit
    rows = rows[:limit]
    return jsonify(
        {
            "items": [EventOut.model_validate(e.as_json()).model_dump(mode="json") for e in rows],
            "next_after": rows[-1].seq if more and rows else None,
        }
    )
