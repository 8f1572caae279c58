"""Webhooks: CRUD and filters. As in the spec, these answers carry no envelope; an update
and the deletes answer an empty 200 (billbee-php-sdk WebHooksEndpoint reads success as
``$res === null`` for each)."""

from __future__ import annotations

import uuid

from flask import Response, jsonify

from billhive.sandbox.envelope import empty, invalid, not_found
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.state import JSON

#: Billbee does not publish its filter names; these follow its event naming and are stable.
WEBHOOK_FILTERS = (
    ("*", "All events"),
    ("Order.Created", "An order was imported or created"),
    ("Order.Updated", "An order was changed"),
    ("Order.StateChanged", "An order changed its state"),
    ("Order.Shipped", "A shipment was added to an order"),
    ("Product.Created", "A product was created"),
    ("Product.Updated", "A product was changed"),
    ("Product.StockChanged", "The stock of a product changed"),
    ("Customer.Created", "A customer was created"),
)
SECRET_MIN, SECRET_MAX = 32, 64


def _validated(data: JSON, webhook_id: str) -> JSON:
    uri, secret = data.get("WebHookUri"), data.get("Secret")
    if not isinstance(uri, str) or not uri.startswith(("https://", "http://")):
        raise invalid("WebHookUri must be an http(s) URL.")
    if not isinstance(secret, str) or not SECRET_MIN <= len(secret) <= SECRET_MAX:
        raise invalid(f"Secret must be {SECRET_MIN} to {SECRET_MAX} characters long.")
    filters = data.get("Filters") or ["*"]
    known = {name for name, _ in WEBHOOK_FILTERS}
    if not isinstance(filters, list) or not set(filters) <= known:
        raise invalid("Filters must be a list of names from GET /webhooks/filters.")
    return {
        "Id": webhook_id,
        "WebHookUri": uri,
        "Secret": secret,
        "Description": str(data.get("Description") or ""),
        "IsPaused": bool(data.get("IsPaused", False)),
        "Filters": filters,
        "Headers": dict(data.get("Headers") or {}),
        "Properties": dict(data.get("Properties") or {}),
    }


def _find(call: Call) -> JSON:
    webhook = call.state.webhooks.get(call.path["id"])
    if webhook is None:
        raise not_found("Webhook")
    return webhook


def list_webhooks(call: Call) -> Response:
    """GET /webhooks."""
    return jsonify(list(call.state.webhooks.values()))


def get_webhook(call: Call) -> Response:
    """GET /webhooks/{id}."""
    return jsonify(_find(call))


def create_webhook(call: Call) -> Response:
    """POST /webhooks (its URL must pass the echo check when delivery is on)."""
    webhook = _validated(call.body_object(), uuid.uuid4().hex)
    if not call.echo_check(webhook["WebHookUri"]):
        raise invalid("WebHookUri did not answer the echo check (GET ?echo=<value>).")
    call.state.webhooks[webhook["Id"]] = webhook
    return jsonify(webhook)


def update_webhook(call: Call) -> Response:
    """PUT /webhooks/{id}."""
    webhook = _validated(call.body_object(), _find(call)["Id"])
    call.state.webhooks[webhook["Id"]] = webhook
    return empty()


def delete_webhook(call: Call) -> Response:
    """DELETE /webhooks/{id}."""
    del call.state.webhooks[_find(call)["Id"]]
    return empty()


def delete_all_webhooks(call: Call) -> Response:
    """DELETE /webhooks."""
    call.state.webhooks.clear()
    return empty()


def list_filters(call: Call) -> Response:
    """GET /webhooks/filters."""
    return jsonify([{"Name": name, "Description": text} for name, text in WEBHOOK_FILTERS])


def handlers() -> dict[str, Handler]:
    """The webhook operations this module implements."""
    return {
        "webhooks.list": list_webhooks,
        "webhooks.get": get_webhook,
        "webhooks.create": create_webhook,
        "webhooks.update": update_webhook,
        "webhooks.delete": delete_webhook,
        "webhooks.delete_all": delete_all_webhooks,
        "webhooks.filters": list_filters,
    }
