"""What GET /apiusage reports: accepted calls per API key, Billbee user, month and endpoint.

Billbee bills each API key per call (100,000 a month free, then EUR 0.0005) and reports
the calls of an account's users under the calling key, per month, in total and per
endpoint. The sandbox counts every authenticated call, throttled ones included (whether
Billbee bills a 429 is not published; billhive's own count includes them too), keyed by
the key's fingerprint, never the key itself.
"""

from __future__ import annotations

import threading
from collections import Counter
from datetime import datetime
from typing import Any

#: (key label, account id, username as sent, "YYYY-MM", method, path template)
_Entry = tuple[str, int, str, str, str, str]


def month_of(moment: datetime) -> str:
    """``YYYY-MM`` of a moment (the sandbox's clock is UTC)."""
    return f"{moment.year:04d}-{moment.month:02d}"


class UsageLedger:
    """Thread-safe call counts; kept for the sandbox process's life (reset with the stats)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: Counter[_Entry] = Counter()

    def record(
        self,
        key_label: str,
        *,
        account_id: int,
        username: str,
        when: datetime,
        method: str,
        endpoint: str,
        count: int = 1,
    ) -> None:
        """Count ``count`` calls."""
        entry = (key_label, account_id, username, month_of(when), method, endpoint)
        with self._lock:
            self._counts[entry] += count

    def reset(self) -> None:
        """Forget every count."""
        with self._lock:
            self._counts.clear()

    def _rows(self, key_label: str, account_id: int, month: str) -> list[tuple[_Entry, int]]:
        with self._lock:
            return [
                (entry, count)
                for entry, count in self._counts.items()
                if entry[0] == key_label and entry[1] == account_id and entry[3] == month
            ]

    def summary(self, key_label: str, account_id: int, month: str) -> list[dict[str, Any]]:
        """``[{"UserName", "Data": {"Count"}}]``: the month's calls per user of the account."""
        totals: Counter[str] = Counter()
        for entry, count in self._rows(key_label, account_id, month):
            totals[entry[2]] += count
        return [{"UserName": user, "Data": {"Count": n}} for user, n in sorted(totals.items())]

    def detail(self, key_label: str, account_id: int, month: str) -> list[dict[str, Any]]:
        """``[{"UserName", "Data": [{"Method", "Endpoint", "Count"}]}]``, per user and
        endpoint (the operation's path template)."""
        per_user: dict[str, Counter[tuple[str, str]]] = {}
        for entry, count in self._rows(key_label, account_id, month):
            per_user.setdefault(entry[2], Counter())[(entry[4], entry[5])] += count
        return [
            {
                "UserName": user,
                "Data": [
                    {"Method": method, "Endpoint": endpoint, "Count": n}
                    for (method, endpoint), n in sorted(counts.items())
                ],
            }
            for user, counts in sorted(per_user.items())
        ]
