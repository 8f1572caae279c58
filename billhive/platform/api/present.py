"""Turning rows into the API's JSON shapes (through the pydantic response models)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from billhive.delivery.models import CallbackDelivery
from billhive.delivery.payloads import call_json, calls_json
from billhive.delivery.subscriptions import events_of
from billhive.feeds.models import Feed, FeedEvent
from billhive.platform.api.schemas import CallbackOut, DeliveryOut, FeedOut, TenantOut
from billhive.tenants.models import Tenant
from billhive.tokens.models import ApiToken

__all__ = ["call_json", "callback_json", "calls_json", "delivery_json", "feed_json", "tenant_json"]


def feed_json(feed: Feed) -> dict[str, Any]:
    """One change feed as the API shows it."""
    return FeedOut.model_validate(feed).model_dump(mode="json")


def tenant_json(tenant: Tenant, contact_email: str, feeds: Sequence[Feed] = ()) -> dict[str, Any]:
    """A tenant as the API shows it, with its feeds: no credential, no blind index;
    ``contact_email`` opened by ``tenants/contact.py`` ("" once deleted)."""
    fields = {
        name: getattr(tenant, name)
        for name in TenantOut.model_fields
        if name not in ("contact_email", "feeds")
    }
    data = TenantOut.model_validate({**fields, "contact_email": contact_email}).model_dump(
        mode="json"
    )
    data["feeds"] = [feed_json(f) for f in feeds]
    return data


def callback_json(token: ApiToken, signing_secret: str | None = None) -> dict[str, Any]:
    """The token's registered callback (the secret only when just registered)."""
    data = {
        "url": token.callback_url,
        "registered_at": token.callback_registered_at,
        "events": list(events_of(token)),
        "tenant_ids": token.callback_tenant_ids,
        "signing_secret": signing_secret,
    }
    return CallbackOut.model_validate(data).model_dump(mode="json")


def delivery_json(delivery: CallbackDelivery, event: FeedEvent | None = None) -> dict[str, Any]:
    """One row of the delivery log, naming the feed event it told (``event``) if any."""
    out = DeliveryOut.model_validate(delivery)
    if event is not None:
        out.event_id, out.event_sequence = event.event_id, event.seq
    return out.model_dump(mode="json")
