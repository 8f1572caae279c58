"""Call records and per-tenant daily usage (SQLAlchemy 2 typed models).

A ``Call`` is one request to run a Billbee operation for a tenant: its parameters, where it
is in its life, and its outcome. ``UsageDay`` counts the Billbee HTTP calls actually made per
tenant and day (Billbee bills integrations per call), which can be fewer than ``Call`` rows
when stock updates were coalesced into one ``updatestockmultiple``.
"""

from __future__ import annotations

from datetime import date, datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    false,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, string_enum, utcnow

#: The longest ordering key a call may name.
ORDERING_KEY_MAX = 200
#: The largest JSON result kept on a call row, in characters; longer results are truncated.
RESULT_MAX_CHARS = 64 * 1024


class CallStatus(StrEnum):
    """Where a call is in its life."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    #: A non-idempotent write whose request may have reached Billbee, with no answer: a
    #: human decides (retrying could, for example, create a second invoice).
    UNKNOWN_OUTCOME = "unknown_outcome"
    CANCELLED = "cancelled"


class Lane(StrEnum):
    """How urgent a call is (docs/scheduling.md, "Lanes"): interactive calls start before a
    tenant's queued bulk work whenever the ordering rule allows; background (the
    platform's own housekeeping) gets a bounded share of the key while others have work."""

    INTERACTIVE = "interactive"
    BULK = "bulk"
    BACKGROUND = "background"


FINAL_STATUSES = frozenset(
    {CallStatus.SUCCEEDED, CallStatus.FAILED, CallStatus.UNKNOWN_OUTCOME, CallStatus.CANCELLED}
)

#: The outbox of call announcements: final calls enqueued by a token and not yet turned
#: into callback deliveries. The partial index ``ix_calls_unannounced`` keeps the
#: collector's query small however many calls were ever made; the collector uses this very
#: text, with the statuses spelled out, so the planners can match the index's predicate.
UNANNOUNCED = text(
    "announced_at IS NULL AND origin_token_id IS NOT NULL AND status IN ("
    + ", ".join(f"'{status.value}'" for status in sorted(FINAL_STATUSES))
    + ")"
)


#: Calls whose payloads the retention purge has still to look at.
UNPURGED = text("payload_purged_at IS NULL AND finished_at IS NOT NULL")


def job_id_for(call_id: int) -> str:
    """The RQ job id of a call (deterministic, so a re-push is idempotent)."""
    return f"call-{call_id}"


# BigInteger ids on PostgreSQL, but INTEGER on SQLite where only that type auto-increments.
CallId = BigInteger().with_variant(Integer(), "sqlite")
#: The largest call id either database can hold (64-bit).
MAX_CALL_ID = 2**63 - 1


class Call(Base):
    """One Billbee operation requested for one tenant, and what became of it."""

    __tablename__ = "calls"
    __table_args__ = (
        Index("ix_calls_tenant_id_id", "tenant_id", "id"),
        Index("ix_calls_status_id", "status", "id"),
        Index("ix_calls_operation_id", "operation", "id"),
        # The dashboard's "last 24 h" figure and /metrics' running totals read calls by
        # when they finished or started.
        Index("ix_calls_finished_at", "finished_at"),
        Index("ix_calls_started_at", "started_at"),
        # The retention purge's work list (workers/retention.py): finished calls whose
        # payloads are still there, oldest first; purged rows leave the index.
        Index(
            "ix_calls_unpurged_finished_at",
            "finished_at",
            postgresql_where=UNPURGED,
            sqlite_where=UNPURGED,
        ),
        Index(
            "ix_calls_unannounced",
            "id",
            postgresql_where=UNANNOUNCED,
            sqlite_where=UNANNOUNCED,
        ),
    )

    id: Mapped[int] = mapped_column(CallId, primary_key=True, autoincrement=True)
    tenant_id: Mapped[int] = mapped_column(ForeignKey("tenants.id", ondelete="CASCADE"))
    operation: Mapped[str] = mapped_column(String(64))
    # The payloads (path and query parameters by their Billbee names, the request body,
    # Billbee's result) name end customers: each is JSON sealed with the tenant's data key,
    # bound to tenant, call and field (workers/payloads.py is the one way to read and write
    # them). None: nothing (no parameters, no body, no result) or purged.
    params_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    body_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    status: Mapped[CallStatus] = mapped_column(
        string_enum(CallStatus, "call_status"), default=CallStatus.QUEUED
    )
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    #: The job of the bulk call this call was sent in (billhive/workers/batches.py).
    batch_job_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    #: Billbee refused a bulk call carrying this call as a whole (a cap lower than ours,
    #: a body its model binding rejects): from then on it goes in a bulk call of its own.
    solo: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    http_status: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    error_name: Mapped[str | None] = mapped_column(String(64), nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    result_sealed: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    result_truncated: Mapped[bool] = mapped_column(default=False)
    enqueued_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: The API token that enqueued the call (its callback is told when the call finishes);
    #: None for calls made by the platform itself. No foreign key: the token table belongs
    #: to the API package, which a process working calls need not load (tokens are
    #: revoked, never deleted).
    origin_token_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: When the latest attempt was claimed; the attempt may run for the lease
    #: (BILLHIVE_CALL_LEASE_SECONDS) after it. None before the first attempt.
    attempt_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: How often an operator queued the call again; each round is announced on its own.
    requeues: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    #: When the final status was turned into callback deliveries (the outbox's mark).
    announced_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    lane: Mapped[Lane] = mapped_column(
        string_enum(Lane, "call_lane", length=16),
        default=Lane.INTERACTIVE,
        server_default=Lane.INTERACTIVE.value,
    )
    #: The key the call is ordered by (docs/scheduling.md): for a write, None orders it
    #: after every earlier write of its tenant; for a read, after every earlier write.
    #: Given by the caller, or derived (``sku:<SKU>`` for a stock update).
    ordering_key: Mapped[str | None] = mapped_column(String(ORDERING_KEY_MAX), nullable=True)
    #: Optimistic lock: every UPDATE of the row checks and bumps it, so two workers (or a
    #: worker and a cancel) can never both move a call on from the same state.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: ``module:function`` that takes the whole answer when the call succeeds (see
    #: workers/consumers.py); None for the vendor's calls, whose answer is stored.
    consumer: Mapped[str | None] = mapped_column(String(120), nullable=True)

    #: When the payloads were purged (retention, or the tenant deleted or left); the audit
    #: fields (operation, status, timings, errors) stay.
    payload_purged_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    __mapper_args__ = {"version_id_col": version}

    @property
    def job_id(self) -> str:
        """The RQ job that runs this call (derived from the id, so never stored)."""
        return job_id_for(self.id)

    def __repr__(self) -> str:
        return f"<Call id={self.id} tenant_id={self.tenant_id} {self.operation} {self.status}>"


class UsageDay(Base):
    """Billbee HTTP calls made for one tenant on one (UTC) day."""

    __tablename__ = "usage_days"
    # The month's bill sums usage by day over all tenants.
    __table_args__ = (Index("ix_usage_days_day", "day"),)

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    day: Mapped[date] = mapped_column(Date, primary_key=True)
    calls: Mapped[int] = mapped_column(Integer, default=0)
    throttled: Mapped[int] = mapped_column(Integer, default=0)

    def __repr__(self) -> str:
        return f"<UsageDay tenant_id={self.tenant_id} {self.day} calls={self.calls}>"


class ReconcilerState(Base):
    """What the reconciler knows between runs (one row, id 1): see workers/reconcile.py.

    ``marker`` is the token it last wrote to Redis: finding another there (or none) means
    Redis lost writes since, and every queued or running call is checked again from
    ``cursor`` 0. Otherwise only calls with an id above ``cursor`` are new to it.
    """

    __tablename__ = "reconciler_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    marker: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cursor: Mapped[int] = mapped_column(CallId, default=0)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: When a run last found that Redis had lost writes.
    last_loss_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    recovered_total: Mapped[int] = mapped_column(BigInteger, default=0)
    last_recovered: Mapped[int] = mapped_column(Integer, default=0)
    last_recovered_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)

    def __repr__(self) -> str:
        return f"<ReconcilerState cursor={self.cursor} recovered_total={self.recovered_total}>"
