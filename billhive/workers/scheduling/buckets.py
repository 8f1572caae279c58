"""How a job's limit buckets are stored for the dispatcher: a few lines of plain text.

The text lives in a field of the job's own RQ hash (scripts.BUCKETS_FIELD), so it is
written with the job, read by the pop script without a second lookup and deleted with the
job. Bucket keys are built from opaque ids (billhive.billbee.limits), never from secrets.
"""

from __future__ import annotations

from collections.abc import Iterable

from billhive.billbee.limits import Bucket

#: Bucket rules shared by every call of every tenant (Billbee's per-key limit). When only
#: such a bucket is full, no other tenant could start either, so the dispatcher waits
#: instead of pushing the tenant back.
SHARED_BUCKETS = frozenset({"key"})

_FORBIDDEN = ("\t", "\n", "\r")


class BucketSpecError(ValueError):
    """A bucket cannot be stored (bad limit, period or key)."""


def encode_bucket(bucket: Bucket) -> str:
    """One bucket as a line ``key TAB limit TAB period TAB shared``."""
    if not bucket.key or any(c in bucket.key for c in _FORBIDDEN):
        raise BucketSpecError(f"bucket {bucket.name!r} has an empty key or one with tabs/newlines")
    if bucket.limit < 1:
        raise BucketSpecError(f"bucket {bucket.name!r} needs a limit of at least 1")
    if bucket.period <= 0:
        raise BucketSpecError(f"bucket {bucket.name!r} needs a positive period")
    shared = "1" if bucket.name in SHARED_BUCKETS else "0"
    return f"{bucket.key}\t{bucket.limit}\t{bucket.period:.6f}\t{shared}"


def encode_buckets(buckets: Iterable[Bucket]) -> str:
    """Every bucket of one call, one per line (empty text: a job that calls no API)."""
    return "\n".join(encode_bucket(b) for b in buckets)
