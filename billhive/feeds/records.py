"""How each resource's records are read: the operation, its time filter, a record's id,
its times, and a keyed digest per field (to name what changed without keeping it)."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from billhive.feeds.models import EventType, Resource

#: Fields that change with every write and say nothing of what changed.
_NOISE = frozenset({"LastModifiedAt", "UpdatedAt"})


@dataclass(frozen=True)
class ResourceSpec:
    """How a feed of one resource asks Billbee and reads the answer."""

    resource: Resource
    operation: str
    #: The query parameter bounding the records by time (modified or created since).
    since_param: str
    #: A record's modification time field, or None when Billbee sends none.
    modified_field: str | None
    created_field: str | None
    id_field: str
    created_event: EventType | None
    changed_event: EventType | None


SPECS: dict[Resource, ResourceSpec] = {
    Resource.ORDERS: ResourceSpec(
        Resource.ORDERS,
        "orders.list",
        "modifiedAtMin",
        "LastModifiedAt",
        "CreatedAt",
        "BillBeeOrderId",
        EventType.ORDER_CREATED,
        EventType.ORDER_CHANGED,
    ),
    Resource.SHIPMENTS: ResourceSpec(
        Resource.SHIPMENTS,
        "shipments.list",
        "createdAtMin",
        None,
        "Created",
        "BillbeeId",
        EventType.SHIPMENT_CREATED,
        None,
    ),
    Resource.STOCK: ResourceSpec(
        Resource.STOCK,
        "products.stock_multiple",
        "modifiedSince",
        None,
        None,
        "Id",
        None,
        EventType.STOCK_CHANGED,
    ),
}
#: The resource a feed fetch's operation reads.
BY_OPERATION: dict[str, Resource] = {spec.operation: r for r, spec in SPECS.items()}


def billbee_time(moment: datetime) -> str:
    """A filter value in Billbee's date format (``2022-07-22T00:00:00+00:00``)."""
    return moment.astimezone(UTC).isoformat(timespec="seconds")


def parse_time(value: Any) -> datetime | None:
    """Billbee's date (with an offset, ``Z`` or none: UTC), or None when absent or bad."""
    if not isinstance(value, str) or not value:
        return None
    try:
        moment = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def digest(record: Mapping[str, Any], key: bytes) -> dict[str, str]:
    """A keyed hash per top-level field (the noise fields left out): equal digests, equal
    fields. Keyed, so the stored hashes of an address cannot be guessed back."""
    out: dict[str, str] = {}
    for name, value in record.items():
        if name in _NOISE:
            continue
        text = json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)
        out[name] = hmac.new(key, text.encode(), hashlib.sha256).hexdigest()[:16]
    return out


def changed_fields(before: Mapping[str, str], after: Mapping[str, str]) -> list[str]:
    """The names of the fields whose digest differs (added and removed fields too)."""
    return sorted(name for name in set(before) | set(after) if before.get(name) != after.get(name))


def event_id(tenant_id: int, resource: Resource, record_id: str, version: str) -> str:
    """The stable id of one change: the same change read twice gets the same id."""
    text = f"{tenant_id}:{resource.value}:{record_id}:{version}"
    return "evt_" + hashlib.sha256(text.encode()).hexdigest()[:32]


def digest_key(secret_key: str) -> bytes:
    """The key of the field digests, derived from the app's secret key."""
    return hmac.new(secret_key.encode(), b"billhive.feeds.digest", hashlib.sha256).digest()
