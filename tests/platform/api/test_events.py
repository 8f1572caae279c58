"""``GET /api/v1/events``: paging with the cursor, the types and tenant filters, the scope."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from redis import Redis
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.db import Database
from billhive.delivery.events import collect_events
from billhive.delivery.models import CallbackDelivery
from billhive.feeds.models import EventType, FeedEvent, Resource
from billhive.tenants.models import Tenant
from billhive.tokens.models import ApiToken

_RESOURCE = {
    EventType.ORDER_CREATED: Resource.ORDERS,
    EventType.ORDER_CHANGED: Resource.ORDERS,
    EventType.SHIPMENT_CREATED: Resource.SHIPMENTS,
    EventType.STOCK_CHANGED: Resource.STOCK,
}


def _event(tenant_id: int, n: int, kind: EventType = EventType.ORDER_CREATED) -> FeedEvent:
    return FeedEvent(
        event_id=f"evt_{tenant_id}_{n}",
        tenant_id=tenant_id,
        resource=_RESOURCE[kind],
        type=kind,
        record_id=str(100 + n),
        changed=["State"] if kind is EventType.ORDER_CHANGED else None,
    )


def _sequences(session: Session, rows: list[FeedEvent]) -> list[int]:
    session.expire_all()
    return [session.get_one(FeedEvent, r.id).seq or 0 for r in rows]


def _events(session: Session, redis: Redis, tenant: Tenant, kinds: list[EventType]) -> list[int]:
    """Write events and announce them with the real collector; returns their sequences."""
    rows = [_event(tenant.id, n, kind) for n, kind in enumerate(kinds)]
    session.add_all(rows)
    session.commit()
    collect_events(session, redis)
    return _sequences(session, rows)


def _pull(api: Callable[..., Any], after: int) -> list[dict[str, Any]]:
    response = api("GET", f"/api/v1/events?after={after}")
    assert response.status_code == 200, response.json
    items: list[dict[str, Any]] = response.json["items"]
    return items


def test_events_page_on_with_the_cursor_oldest_first(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis
) -> None:
    sequences = _events(session, redis_client, tenant, [EventType.ORDER_CREATED] * 5)
    first = api("GET", "/api/v1/events?limit=2")
    assert first.status_code == 200
    assert [e["sequence"] for e in first.json["items"]] == sequences[:2]
    assert first.json["next_after"] == sequences[1]
    rest = api("GET", f"/api/v1/events?limit=10&after={first.json['next_after']}")
    assert [e["sequence"] for e in rest.json["items"]] == sequences[2:]
    assert rest.json["next_after"] is None
    assert rest.json["items"][0]["id"] == f"evt_{tenant.id}_2"


def test_events_not_yet_announced_are_not_served(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis
) -> None:
    _events(session, redis_client, tenant, [EventType.ORDER_CREATED])
    session.add(_event(tenant.id, 1))
    session.commit()
    assert [e["id"] for e in _pull(api, 0)] == [f"evt_{tenant.id}_0"]


@pytest.mark.postgres_only
def test_an_event_committed_after_a_later_one_is_not_skipped_by_the_cursor(
    api: Callable[..., Any], tenant: Tenant, db: Database, redis_client: Redis
) -> None:
    """Ids are drawn at INSERT: event A gets the smaller id, but B commits first. Paging
    by id, a pull then returned B and moved the cursor past A, which never showed."""
    with db.sessionmaker() as slow, db.sessionmaker() as fast:
        slow.add(_event(tenant.id, 0))
        slow.flush()  # A has its id; its transaction stays open
        fast.add(_event(tenant.id, 1))
        fast.commit()  # B, with the larger id, is committed
        with db.session() as collector:
            collect_events(collector, redis_client)
        early = _pull(api, 0)
        assert f"evt_{tenant.id}_0" not in [e["id"] for e in early]
        cursor = early[-1]["sequence"] if early else 0
        slow.commit()
    with db.session() as collector:
        collect_events(collector, redis_client)
    assert [e["id"] for e in _pull(api, cursor)] == [f"evt_{tenant.id}_0"]


def test_the_types_filter_keeps_only_the_types_asked_for(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis
) -> None:
    _events(
        session,
        redis_client,
        tenant,
        [EventType.ORDER_CREATED, EventType.STOCK_CHANGED, EventType.ORDER_CHANGED],
    )
    response = api("GET", "/api/v1/events?types=order.changed,stock.changed")
    assert [e["type"] for e in response.json["items"]] == ["stock.changed", "order.changed"]
    assert response.json["items"][1]["changed"] == ["State"]


def test_an_unknown_type_is_a_clear_400(api: Callable[..., Any], db: Any) -> None:
    response = api("GET", "/api/v1/events?types=order.deleted")
    assert response.status_code == 400
    assert response.json["error"]["field"] == "types"


def test_a_scoped_token_sees_only_its_tenants_events(
    api: Callable[..., Any],
    make_tenant: Callable[..., Tenant],
    make_token: Callable[..., str],
    session: Session,
    redis_client: Redis,
) -> None:
    mine, other = make_tenant(), make_tenant()
    _events(session, redis_client, mine, [EventType.ORDER_CREATED])
    _events(session, redis_client, other, [EventType.ORDER_CREATED, EventType.ORDER_CHANGED])
    scoped = make_token("scoped", tenant_ids=[mine.id])
    seen = api("GET", "/api/v1/events", as_token=scoped).json["items"]
    assert {e["tenant_id"] for e in seen} == {mine.id}
    asked = api("GET", f"/api/v1/events?tenant_id={other.id}", as_token=scoped)
    assert asked.status_code == 200 and asked.json["items"] == []
    everything = api("GET", f"/api/v1/events?tenant_id={other.id}").json["items"]
    assert len(everything) == 2


def test_a_callback_chooses_its_event_types_and_tenants(
    api: Callable[..., Any], tenant: Tenant, db: Any
) -> None:
    response = api(
        "PUT",
        "/api/v1/callback",
        json={
            "url": "https://erp.example/hook",
            "events": ["order.changed", "call.finished"],
            "tenant_ids": [tenant.id],
        },
    )
    assert response.status_code == 200, response.json
    shown = api("GET", "/api/v1/callback").json
    assert shown["events"] == ["order.changed", "call.finished"]
    assert shown["tenant_ids"] == [tenant.id]


def test_a_scoped_callback_cannot_name_a_tenant_outside_its_token(
    api: Callable[..., Any], make_tenant: Callable[..., Tenant], make_token: Callable[..., str]
) -> None:
    mine, other = make_tenant(), make_tenant()
    scoped = make_token("scoped", tenant_ids=[mine.id])
    response = api(
        "PUT",
        "/api/v1/callback",
        as_token=scoped,
        json={
            "url": "https://erp.example/hook",
            "events": ["order.created"],
            "tenant_ids": [other.id],
        },
    )
    assert response.status_code == 422
    assert response.json["error"]["field"] == "tenant_ids"


def test_an_unknown_event_type_is_refused_by_name(api: Callable[..., Any], db: Any) -> None:
    response = api(
        "PUT", "/api/v1/callback", json={"url": "https://erp.example/h", "events": ["order.gone"]}
    )
    assert response.status_code == 422


def test_a_delivery_of_an_event_names_the_event_and_its_sequence(
    api: Callable[..., Any], tenant: Tenant, session: Session, redis_client: Redis
) -> None:
    sequences = _events(session, redis_client, tenant, [EventType.ORDER_CREATED])
    event = session.scalars(select(FeedEvent)).one()
    token = session.scalars(select(ApiToken)).one()
    url = "https://receiver.example/hook"
    session.add(CallbackDelivery(token_id=token.id, feed_event_id=event.id, url=url))
    session.commit()
    item = api("GET", "/api/v1/callback/deliveries").json["items"][0]
    assert item["event_id"] == f"evt_{tenant.id}_0"
    assert item["event_sequence"] == sequences[0]
