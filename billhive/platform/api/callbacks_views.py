"""``/api/v1/callback``: register, show and remove the token's callback; its delivery log."""

from __future__ import annotations

from flask import jsonify
from flask.typing import ResponseReturnValue
from sqlalchemy import select

from billhive.db import utcnow
from billhive.delivery.egress import EgressPolicy, EgressRefused
from billhive.delivery.models import CallbackDelivery
from billhive.delivery.signing import new_salt, signing_secret
from billhive.delivery.subscriptions import check_events
from billhive.feeds.models import FeedEvent
from billhive.platform import extensions
from billhive.platform.api.auth import current_scope
from billhive.platform.api.blueprint import bp
from billhive.platform.api.errors import ApiError
from billhive.platform.api.parsing import MAX_ID, parse_body, query_int, query_limit
from billhive.platform.api.present import callback_json, delivery_json
from billhive.platform.api.schemas import CallbackRequest
from billhive.tokens.models import ApiToken


def _token() -> ApiToken:
    token = extensions.db_session().get(ApiToken, current_scope().token_id)
    if token is None:  # revoked and deleted between authentication and now
        raise ApiError(401, "invalid_token", "The API token is not valid or was revoked.")
    return token


@bp.get("/callback")
def get_callback() -> ResponseReturnValue:
    """The token's callback URL (the signing secret is only shown when registering)."""
    token = _token()
    if not token.callback_url:
        raise ApiError(404, "callback_not_registered", "This token has no callback URL.")
    return jsonify(callback_json(token))


@bp.put("/callback")
def put_callback() -> ResponseReturnValue:
    """Register (or replace) the callback URL; answers with a new signing secret, once."""
    asked = parse_body(CallbackRequest)
    try:
        EgressPolicy.from_settings(extensions.settings()).check_registration(asked.url)
    except EgressRefused as exc:
        raise ApiError(
            422, "validation_failed", f"Callbacks cannot go to this URL: {exc}.", field="url"
        ) from None
    token = _token()
    scope = current_scope()
    if asked.tenant_ids is not None and scope.tenant_ids is not None:
        outside = sorted(set(asked.tenant_ids) - set(scope.tenant_ids))
        if outside:
            raise ApiError(
                422,
                "validation_failed",
                f"Tenant {outside[0]} is not within this token's tenants.",
                field="tenant_ids",
            )
    token.callback_url = asked.url
    token.callback_events = None if asked.events is None else check_events(asked.events)
    token.callback_tenant_ids = None if asked.tenant_ids is None else sorted(set(asked.tenant_ids))
    token.callback_salt = new_salt()
    token.callback_registered_at = utcnow()
    extensions.db_session().commit()
    secret = signing_secret(extensions.settings().require("secret_key"), token.callback_salt)
    return jsonify(callback_json(token, signing_secret=secret))


@bp.delete("/callback")
def delete_callback() -> ResponseReturnValue:
    """Stop callbacks for this token; pending deliveries are cancelled."""
    token = _token()
    token.callback_url = None
    token.callback_salt = None
    token.callback_registered_at = None
    token.callback_events = token.callback_tenant_ids = None
    extensions.db_session().commit()
    return "", 204


@bp.get("/callback/deliveries")
def list_deliveries() -> ResponseReturnValue:
    """The token's delivery log, oldest first, ``limit`` per page after id ``after``."""
    limit = query_limit()
    after = query_int("after", default=0, low=0, high=MAX_ID)
    rows = list(
        extensions.db_session().scalars(
            select(CallbackDelivery)
            .where(
                CallbackDelivery.token_id == current_scope().token_id,
                CallbackDelivery.id > (after or 0),
            )
            .order_by(CallbackDelivery.id)
            .limit(limit + 1)
        )
    )
    more = len(rows) > limit
    rows = rows[:limit]
    event_ids = {d.feed_event_id for d in rows if d.feed_event_id is not None}
    events: dict[int, FeedEvent] = {}
    if event_ids:  # a page of finished calls only needs no second query
        query = select(FeedEvent).where(FeedEvent.id.in_(event_ids))
        events = {e.id: e for e in extensions.db_session().scalars(query)}
    return jsonify(
        {
            "items": [
                delivery_json(d, events.get(d.feed_event_id) if d.feed_event_id else None)
                for d in rows
            ],
            "next_after": rows[-1].id if more and rows else None,
        }
    )
