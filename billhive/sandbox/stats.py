"""Accepted and throttled call counts per API key and per account (read by benchmarks)."""

from __future__ import annotations

import hashlib
import threading
from collections import Counter
from collections.abc import Sequence
from typing import Any


def key_label(api_key: str) -> str:
    """A stable, non-secret label for an API key (a short SHA-256 fingerprint)."""
    return "key-" + hashlib.sha256(api_key.encode()).hexdigest()[:12]


class CallStats:
    """Thread-safe counters; reset on demand."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: Counter[tuple[str, str]] = Counter()
        self._accounts: Counter[tuple[int, str]] = Counter()
        self._rules: Counter[str] = Counter()

    def record(
        self, api_key: str, account_id: int, outcome: str, rules: Sequence[str] = ()
    ) -> None:
        """Count one call with ``outcome`` "accepted" or "throttled" (and the full
        buckets' rule names, ``key``, ``user``, ``endpoint`` ..., that refused it)."""
        with self._lock:
            self._keys[(key_label(api_key), outcome)] += 1
            self._accounts[(account_id, outcome)] += 1
            self._rules.update(rules)

    def reset(self) -> None:
        """Start counting from zero."""
        with self._lock:
            self._keys.clear()
            self._accounts.clear()
            self._rules.clear()

    def snapshot(self) -> dict[str, Any]:
        """``{"keys": {label: {...}}, "accounts": {id: {...}}, "total": {...},
        "throttled_by_rule": {rule: count}}``."""
        with self._lock:
            keys: dict[str, dict[str, int]] = {}
            for (label, outcome), count in self._keys.items():
                keys.setdefault(label, {"accepted": 0, "throttled": 0})[outcome] = count
            accounts: dict[str, dict[str, int]] = {}
            for (account_id, outcome), count in self._accounts.items():
                accounts.setdefault(str(account_id), {"accepted": 0, "throttled": 0})[outcome] = (
                    count
                )
            rules = dict(self._rules)
        total = {o: sum(v[o] for v in keys.values()) for o in ("accepted", "throttled")}
        return {"keys": keys, "accounts": accounts, "total": total, "throttled_by_rule": rules}
