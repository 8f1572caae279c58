"""Call payloads sealed with the tenant's data key: the one way to write and read them.

A call's parameters, body and Billbee's result name the merchant's end customers (names,
addresses, e-mail addresses). Each is stored as its JSON sealed with the tenant's data key
(``tenants/vault.py``, :class:`~billhive.tenants.vault.TenantKey`), the associated data
naming the tenant, the call and the field: a value copied to another tenant, call or
field fails to open, and deleting the tenant's data key (crypto-shredding) makes every
payload of the tenant unreadable at once, in backups too.

What the scheduler needs stays plain and holds no personal data: the operation, lane,
ordering key (for a stock update derived from the SKU at enqueue time), status and the
limit buckets (derived from the parameters when the job is pushed; a re-push opens them).

A payload is "purged" when the retention purge (``workers/retention.py``) or a deleted
tenant cleared it, or when the tenant's data key is gone: readers then show it as purged
instead of failing.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, cast

from sqlalchemy import Table, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from billhive.db import utcnow
from billhive.tenants.errors import VaultError
from billhive.tenants.models import TenantCredentials
from billhive.tenants.vault import SESSION_KEYS, TenantKey, Vault
from billhive.workers.models import Call

PARAMS = "params"
BODY = "body"
RESULT = "result"
FIELDS = (PARAMS, BODY, RESULT)


def context(call_id: int, name: str) -> str:
    """What a sealed payload is bound to besides its tenant: the call and the field."""
    if name not in FIELDS:
        raise ValueError(f"not a call payload field: {name!r}")
    return f"call:{call_id}:{name}"


def encode(value: Any) -> str:
    """The JSON text a payload is sealed as (compact; anything unusual as its text)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def seal_text(key: TenantKey, call_id: int, name: str, text: str) -> bytes:
    """Seal JSON text already encoded (the result is encoded once, to cap its size)."""
    return key.seal(context(call_id, name), text.encode())


def _seal(key: TenantKey, call_id: int, name: str, value: Any) -> bytes | None:
    return None if value is None else seal_text(key, call_id, name, encode(value))


def _open(key: TenantKey, call_id: int, name: str, sealed: bytes | None) -> Any:
    return None if sealed is None else json.loads(key.open(context(call_id, name), sealed))


@dataclass(frozen=True)
class Payload:
    """A call's opened payloads. ``purged``: they are gone (retention, a deleted tenant,
    its data key shredded) and the others are empty; ``unreadable``: a value did not open
    with the tenant's key (damaged or moved), said without naming any data."""

    params: dict[str, Any] = field(default_factory=dict)
    body: Any = None
    result: Any = None
    purged: bool = False
    unreadable: bool = False


PURGED = Payload(purged=True)
UNREADABLE = Payload(unreadable=True)


def key_of(vault: Vault, credentials: TenantCredentials | None) -> TenantKey | None:
    """The tenant's unwrapped data key from its credentials row (None: shredded)."""
    if credentials is None:
        return None
    return vault.tenant_key(credentials.tenant_id, credentials.kek_id, credentials.wrapped_key)


def _read_keys(session: Session, vault: Vault, tenant_ids: Iterable[int]) -> dict[int, TenantKey]:
    """The tenants' data keys from their credentials rows (two columns each, one query);
    the session keeps them for :func:`keys_for`."""
    query = select(
        TenantCredentials.tenant_id, TenantCredentials.kek_id, TenantCredentials.wrapped_key
    ).where(TenantCredentials.tenant_id.in_(tenant_ids))
    keys = {row[0]: vault.tenant_key(*row) for row in session.execute(query)}
    session.info.setdefault(SESSION_KEYS, {}).update(keys)
    return keys


def key_for(session: Session, vault: Vault, tenant_id: int) -> TenantKey | None:
    """The data key of ``tenant_id`` (None when the tenant has none: deleted, shredded),
    from its credentials row, read afresh."""
    key = _read_keys(session, vault, [tenant_id]).get(tenant_id)
    if key is None:
        session.info.get(SESSION_KEYS, {}).pop(tenant_id, None)
    return key


def keys_for(session: Session, vault: Vault, tenant_ids: Iterable[int]) -> dict[int, TenantKey]:
    """The data keys of several tenants (tenants without one are missing) in at most one
    query: a key this session already unwrapped is not read again, so showing the calls a
    request has just enqueued costs no round trip."""
    held: dict[int, TenantKey] = session.info.get(SESSION_KEYS, {})
    wanted = set(tenant_ids)
    keys = {tenant_id: held[tenant_id] for tenant_id in wanted if tenant_id in held}
    missing = sorted(wanted - keys.keys())
    if missing:
        keys.update(_read_keys(session, vault, missing))
    return keys


def _sealed_request(
    key: TenantKey, call: Call, params: Mapping[str, Any] | None, body: Any
) -> dict[str, bytes | None]:
    """The call's parameters and body sealed to its id, by column name."""
    if key.tenant_id != call.tenant_id:
        raise ValueError(f"call {call.id} is not of tenant {key.tenant_id}")
    return {
        "params_sealed": _seal(key, call.id, PARAMS, dict(params) if params else None),
        "body_sealed": _seal(key, call.id, BODY, body),
    }


def seal_request(key: TenantKey, call: Call, params: Mapping[str, Any] | None, body: Any) -> None:
    """Seal a recorded call's parameters and body onto its row (not committed); the call
    needs its id (flushed) since the sealed values are bound to it."""
    for name, value in _sealed_request(key, call, params, body).items():
        setattr(call, name, value)


def seal_inserted_request(
    session: Session, key: TenantKey, call: Call, params: Mapping[str, Any] | None, body: Any
) -> None:
    """:func:`seal_request` for a call this transaction has just inserted, written with one
    plain UPDATE instead of the unit of work's versioned flush (enqueueing one call is the
    API's hot path). Nobody sees the row before the commit, so its version stays."""
    sealed = _sealed_request(key, call, params, body)
    table = cast(Table, Call.__table__)
    session.execute(update(table).where(table.c.id == call.id).values(**sealed))
    for name, value in sealed.items():
        set_committed_value(call, name, value)


def seal_result(key: TenantKey, call: Call, result: Any) -> None:
    """Seal Billbee's result onto the call (not committed)."""
    seal_result_text(key, call, None if result is None else encode(result))


def seal_result_text(key: TenantKey, call: Call, text: str | None) -> None:
    """Seal a result already encoded as JSON text (None: no result) onto the call."""
    if key.tenant_id != call.tenant_id:
        raise ValueError(f"call {call.id} is not of tenant {key.tenant_id}")
    call.result_sealed = None if text is None else seal_text(key, call.id, RESULT, text)


def open_call(key: TenantKey | None, call: Call) -> Payload:
    """The call's payloads opened with its tenant's key (from :func:`key_for`)."""
    if call.payload_purged_at is not None or key is None:
        return PURGED
    try:
        return Payload(
            params=_open(key, call.id, PARAMS, call.params_sealed) or {},
            body=_open(key, call.id, BODY, call.body_sealed),
            result=_open(key, call.id, RESULT, call.result_sealed),
        )
    except (VaultError, ValueError):
        return UNREADABLE


def read_call(session: Session, vault: Vault, call: Call) -> Payload:
    """The call's payloads, for a reader holding only a session (API, dashboard)."""
    if call.payload_purged_at is not None:
        return PURGED
    return open_call(key_for(session, vault, call.tenant_id), call)


def open_params(key: TenantKey | None, call: Call) -> dict[str, Any]:
    """Only the call's parameters ({} when purged or unreadable): what its limit buckets
    are derived from when its job is pushed again."""
    return open_call(key, call).params


#: The columns a purge clears.
_CLEARED = {"params_sealed": None, "body_sealed": None, "result_sealed": None}


def purge_values(now: datetime | None = None) -> dict[str, Any]:
    """The column values of a purged call (for a bulk UPDATE)."""
    return {**_CLEARED, "payload_purged_at": now or utcnow()}


def purge_tenant_payloads(session: Session, tenant_id: int) -> int:
    """Purge the payloads of every call of a tenant (deleted or left); returns how many
    calls (not committed). The calls' audit fields stay."""
    changed = session.execute(
        update(Call)
        .where(Call.tenant_id == tenant_id, Call.payload_purged_at.is_(None))
        # No version bump: purging is no step in the call's life, and a worker recording
        # an outcome meanwhile must not fail for it (what it seals stays purged).
        .values(**purge_values())
        .execution_options(synchronize_session=False)
    )
    return int(changed.rowcount or 0)  # type: ignore[attr-defined]
