"""What Billbee itself counted for a tenant, next to billhive's own count.

Billbee bills each API key per call and reports the calls per Billbee user and month at
``GET /apiusage``. The daily reconciliation (:mod:`billhive.workers.usage_reconcile`) reads it
for every tenant and keeps one row per tenant and month: Billbee's count, billhive's count
(the tenant's ``usage_days``) at the same moment, and when.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Integer, Text
from sqlalchemy.orm import Mapped, mapped_column

from billhive.db import Base, UTCDateTime, utcnow


class UsageReconciliation(Base):
    """Billbee's and billhive's call counts of one tenant in one month (first day)."""

    __tablename__ = "usage_reconciliations"

    tenant_id: Mapped[int] = mapped_column(
        ForeignKey("tenants.id", ondelete="CASCADE"), primary_key=True
    )
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    #: Calls of the tenant's Billbee users under billhive's API key, as Billbee reports them.
    billbee_calls: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: billhive's own count for the month when Billbee's was read.
    billhive_calls: Mapped[int] = mapped_column(Integer, default=0)
    checked_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: Why the last reading failed (None when it succeeded); never a secret.
    error: Mapped[str | None] = mapped_column(Text, nullable=True)

    @property
    def difference(self) -> int | None:
        """Billbee's count minus billhive's (positive: Billbee counted more)."""
        if self.billbee_calls is None:
            return None
        return self.billbee_calls - self.billhive_calls

    def __repr__(self) -> str:
        return (
            f"<UsageReconciliation tenant_id={self.tenant_id} {self.month} "
            f"billbee={self.billbee_calls} billhive={self.billhive_calls}>"
        )
