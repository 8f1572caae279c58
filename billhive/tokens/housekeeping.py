"""Periodic clean-up of token state: idempotency keys past their keeping time.

A job of the system queue, so it lives below the web layer (the workers run it).
"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import delete
from sqlalchemy.orm import Session

from billhive.db import utcnow
from billhive.tokens.models import IdempotencyKey
from billhive.workers.runtime import get_runtime

#: How long a key is remembered: a retry within this time gets the first request's calls.
KEEP_FOR = timedelta(days=7)


def purge_keys(session: Session, *, older_than: timedelta = KEEP_FOR) -> int:
    """Forget idempotency keys older than ``older_than`` (commits); returns how many."""
    result = session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - older_than)
    )
    session.commit()
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def purge_idempotency_keys() -> int:
    """RQ/cron job: forget idempotency keys past their keeping time; returns how many."""
    runtime = get_runtime()
    with runtime.database.session() as session:
        return purge_keys(session)
