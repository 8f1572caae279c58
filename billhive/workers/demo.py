"""The demo stream of ``billhive dev``: a light, realistic flow of scoped calls.

Every tick, for each active tenant (at most a handful), it polls orders, lists products,
and uses what earlier calls returned (stored on their Call rows) to push a stock value and
move an order on, so a newcomer watches real per-tenant calls within a minute of starting.
"""

from __future__ import annotations

import random
from typing import Any

from sqlalchemy import select

from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers import payloads
from billhive.workers.calls import StockItem, enqueue_call, enqueue_stock_updates
from billhive.workers.models import Call, CallStatus, Lane
from billhive.workers.runtime import Runtime, get_runtime

TICK_SECONDS = 15
MAX_TENANTS = 5
#: Order states the demo moves orders into (confirmed, paid, packed).
NEXT_STATES = (2, 3, 13)
#: The demo is the platform's own traffic: it takes the background lane.
BACKGROUND = Lane.BACKGROUND.value


def demo_tick() -> int:
    """Cron job: queue one round of demo calls; returns how many calls it queued."""
    return queue_round(get_runtime(), random.Random())  # noqa: S311 - demo data


def _latest_result(rt: Runtime, tenant_id: int, operation: str) -> Any:
    with rt.database.session() as session:
        call = session.scalar(
            select(Call)
            .where(
                Call.tenant_id == tenant_id,
                Call.operation == operation,
                Call.status == CallStatus.SUCCEEDED,
            )
            .order_by(Call.id.desc())
            .limit(1)
        )
        return None if call is None else payloads.read_call(session, rt.vault, call).result


def queue_round(rt: Runtime, rng: random.Random) -> int:
    """Queue the demo calls of one tick."""
    with rt.database.session() as session:
        tenants = session.scalars(
            select(Tenant.id)
            .where(Tenant.status == TenantStatus.ACTIVE)
            .order_by(Tenant.id)
            .limit(MAX_TENANTS)
        ).all()
    queued = 0
    for tenant_id in tenants:
        with rt.database.session() as session:
            enqueue_call(
                tenant_id,
                "orders.list",
                {"page": 1, "pageSize": 20},
                session=session,
                redis=rt.redis,
                vault=rt.vault,
                priority=BACKGROUND,
            )
            enqueue_call(
                tenant_id,
                "products.list",
                {"page": 1, "pageSize": 20},
                session=session,
                redis=rt.redis,
                vault=rt.vault,
                priority=BACKGROUND,
            )
            queued += 2
            products = _latest_result(rt, tenant_id, "products.list") or []
            skus = [p["SKU"] for p in products if isinstance(p, dict) and p.get("SKU")]
            if skus:
                items = [
                    StockItem(sku=rng.choice(skus), quantity=float(rng.randrange(0, 200)))
                    for _ in range(rng.randrange(1, 6))
                ]
                queued += len(
                    enqueue_stock_updates(
                        tenant_id,
                        items,
                        session=session,
                        redis=rt.redis,
                        vault=rt.vault,
                        priority=BACKGROUND,
                    )
                )
            orders = _latest_result(rt, tenant_id, "orders.list") or []
            ids = [
                o["BillBeeOrderId"]
                for o in orders
                if isinstance(o, dict) and o.get("BillBeeOrderId")
            ]
            if ids and rng.random() < 0.5:
                enqueue_call(
                    tenant_id,
                    "orders.update_state",
                    {"id": rng.choice(ids)},
                    body={"NewStateId": rng.choice(NEXT_STATES)},
                    session=session,
                    redis=rt.redis,
                    vault=rt.vault,
                    priority=BACKGROUND,
                )
                queued += 1
    return queued
