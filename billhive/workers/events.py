"""Tell the rest of the platform that a call reached a final outcome.

Workers push the call id onto a capped Redis list; the API's callback delivery takes ids
from it. Only ids travel: whoever needs the outcome reads the Call row.
"""

from __future__ import annotations

from redis import Redis
from redis.client import Pipeline

CALLS_FINISHED_KEY = "billhive:calls:finished"
#: Ids kept when nobody consumes them (the Call rows keep every outcome anyway).
MAX_PENDING = 100_000


def notify_call_finished(client: Redis | Pipeline, call_id: int) -> None:
    """Announce that call ``call_id`` is succeeded, failed, unknown_outcome or cancelled."""
    client.lpush(CALLS_FINISHED_KEY, str(call_id))
    client.ltrim(CALLS_FINISHED_KEY, 0, MAX_PENDING - 1)


def take_finished(redis: Redis, limit: int = 100) -> list[int]:
    """Take up to ``limit`` finished call ids, oldest first."""
    raw = redis.rpop(CALLS_FINISHED_KEY, limit)
    if not raw:
        return []
    items = raw if isinstance(raw, list) else [raw]
    return [int(item) for item in items]


def give_back_finished(redis: Redis, call_ids: list[int]) -> None:
    """Return ids taken by :func:`take_finished` that could not be handled, so the next
    take gets them first, in their order."""
    if call_ids:
        redis.rpush(CALLS_FINISHED_KEY, *(str(i) for i in reversed(call_ids)))
