"""``Idempotency-Key``: a retried POST answers with the calls the first one created.

Insert-first: the key row is committed (unique per token and key) before any call is
enqueued. A concurrent retry fails on the unique constraint, waits until the first
request has filled in its call ids, and answers with those calls. A request that fails
(bad input, Redis down) deletes its key row, so a corrected retry may use the key again.
Keys are remembered for :data:`KEEP_FOR` (a daily job, ``billhive.tokens.housekeeping``,
purges older ones).
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.platform.api.errors import ApiError
from billhive.tokens.models import IDEMPOTENCY_KEY_MAX, IdempotencyKey
from billhive.workers.models import Call

HEADER = "Idempotency-Key"
#: How long a retry waits for the first request to finish before answering 409.
WAIT_SECONDS = 10.0
POLL_SECONDS = 0.02
#: A key row still without calls after this long belongs to a request that died; a retry
#: takes it over.
STALE_AFTER = timedelta(minutes=2)


def check_key(raw: str | None) -> str | None:
    """The header's key, or None; 400 for an empty, long or non-printable key."""
    if raw is None:
        return None
    if not 1 <= len(raw) <= IDEMPOTENCY_KEY_MAX or not raw.isascii() or not raw.isprintable():
        raise ApiError(
            400,
            "invalid_header",
            f"{HEADER} must be 1 to {IDEMPOTENCY_KEY_MAX} printable ASCII characters.",
            field=HEADER,
        )
    return raw


def request_hash(method: str, path: str, payload: Any) -> str:
    """SHA-256 over what the request asks for (the same key may not ask for anything else)."""
    canonical = json.dumps([method, path, payload], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def run_once(
    session: Session,
    token_id: int,
    key: str | None,
    fingerprint: str,
    create: Callable[[], list[Call]],
) -> tuple[list[Call], bool]:
    """Run ``create`` once per (token, key); returns the calls and whether they are replayed.

    Without a key ``create`` simply runs. Raises 409 ``idempotency_key_reused`` when the
    key was used for another request, 409 ``conflict`` when the first request is still
    running after :data:`WAIT_SECONDS`.
    """
    if key is None:
        return create(), False
    for _ in range(3):
        claim = _claim(session, token_id, key, fingerprint)
        if isinstance(claim, IdempotencyKey):
            return _create_under(session, claim, create), False
        if claim is not None:
            return _load_calls(session, claim), True
    raise ApiError(409, "conflict", f"The request with this {HEADER} is still being processed.")


def _claim(
    session: Session, token_id: int, key: str, fingerprint: str
) -> IdempotencyKey | list[int] | None:
    """Our new key row; or the call ids of an earlier request; or None: try again."""
    row = IdempotencyKey(token_id=token_id, key=key, request_hash=fingerprint, call_ids=[])
    session.add(row)
    try:
        session.commit()
        return row
    except IntegrityError:
        session.rollback()
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        existing = session.execute(
            select(
                IdempotencyKey.id,
                IdempotencyKey.request_hash,
                IdempotencyKey.call_ids,
                IdempotencyKey.created_at,
            ).where(IdempotencyKey.token_id == token_id, IdempotencyKey.key == key)
        ).one_or_none()
        session.rollback()  # end the read so the next poll sees new commits (SQLite)
        if existing is None:
            return None  # the first request failed and released the key
        if existing.request_hash != fingerprint:
            raise ApiError(
                409,
                "idempotency_key_reused",
                f"This {HEADER} was already used for a different request.",
                field=HEADER,
            )
        if existing.call_ids:
            return list(existing.call_ids)
        if utcnow() - existing.created_at > STALE_AFTER:
            session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == existing.id))
            session.commit()
            return None
        if time.monotonic() > deadline:
            raise ApiError(
                409, "conflict", f"The request with this {HEADER} is still being processed."
            )
        time.sleep(POLL_SECONDS)


def _create_under(
    session: Session, claim: IdempotencyKey, create: Callable[[], list[Call]]
) -> list[Call]:
    claim_id = claim.id
    try:
        calls = create()
    except BaseException:
        session.rollback()
        session.execute(delete(IdempotencyKey).where(IdempotencyKey.id == claim_id))
        session.commit()
        raise
    claim.call_ids = [call.id for call in calls]
    session.commit()
    return calls


def _load_calls(session: Session, call_ids: list[int]) -> list[Call]:
    found = {c.id: c for c in session.scalars(select(Call).where(Call.id.in_(call_ids)))}
    return [found[i] for i in call_ids if i in found]
