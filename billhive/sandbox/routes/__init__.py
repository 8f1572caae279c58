"""Handlers of the implemented Billbee operations, by operation name."""

from __future__ import annotations

from billhive.sandbox.routes import (
    accounts,
    customers,
    documents,
    extras,
    images,
    misc,
    orders,
    products,
    shipping,
    webhooks,
)
from billhive.sandbox.routes.common import Call, Handler


def all_handlers() -> dict[str, Handler]:
    """Every implemented operation (catalog name -> handler)."""
    handlers: dict[str, Handler] = {}
    for module in (
        orders,
        documents,
        products,
        images,
        customers,
        webhooks,
        misc,
        shipping,
        extras,
        accounts,
    ):
        handlers.update(module.handlers())
    return handlers


__all__ = ["Call", "Handler", "all_handlers"]
