"""Webhook delivery the way ASP.NET WebHooks (Billbee's library) does it, with knobs.

Off by default (a test that registers a webhook for a URL nobody serves must not wait
on it). Switched on (``PUT /api/v1/_sandbox/webhooks {"deliver": true}``):
- registering a webhook first checks its URL: ``GET <uri>?echo=<random>`` must answer
  2xx with that value, else the registration is refused (400), as ASP.NET WebHooks does;
- every order state change of an account posts, to each of its webhooks whose filters
  take it, ``{"Id", "Attempt", "Properties", "Notifications": [{"Action", ...}]}`` with
  ``ms-signature: sha256=<hex HMAC-SHA256 of the body under the webhook's secret>``,
  from background threads, after ``delay_ms`` (lognormal around it when ``jitter``), a
  share ``loss`` of them silently dropped; a refused or failed post is tried again after
  2 s and 10 s (then given up, as a real sender eventually does).
"""

from __future__ import annotations

import hashlib
import heapq
import hmac
import itertools
import json
import random
import secrets
import threading
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import httpx

from billhive.sandbox.faults import KnobError

JSON = dict[str, Any]

#: Seconds before the 2nd and 3rd attempt of a post that failed.
RETRY_DELAYS = (2.0, 10.0)
#: Threads that post (a post to a local receiver takes a few ms).
SENDER_THREADS = 4
#: What an order state change is called in a notification, and the filters that take it.
ORDER_STATE_CHANGED = "OrderStateChanged"
_FILTERS_OF = {ORDER_STATE_CHANGED: {"*", "Order.StateChanged", "Order.Updated"}}


@dataclass(frozen=True)
class WebhookKnobs:
    """Whether webhooks are delivered, and how unreliably."""

    deliver: bool = False
    loss: float = 0.0
    delay_ms: float = 0.0
    timeout_seconds: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.loss <= 1.0:
            raise KnobError(f"loss must be between 0 and 1, not {self.loss}")
        if self.delay_ms < 0 or self.timeout_seconds <= 0:
            raise KnobError("delay_ms must not be negative, timeout_seconds must be positive")

    @classmethod
    def from_dict(cls, data: dict[str, Any], base: WebhookKnobs) -> WebhookKnobs:
        """``base`` with the control API's JSON applied (unknown keys refused by name)."""
        known = set(asdict(base))
        unknown = sorted(set(data) - known)
        if unknown:
            raise KnobError(f"unknown webhook setting {unknown[0]!r} (known: {sorted(known)})")
        if "deliver" in data and not isinstance(data["deliver"], bool):
            raise KnobError("deliver must be true or false")
        try:
            numbers = {k: float(v) for k, v in data.items() if k != "deliver"}
        except (TypeError, ValueError) as exc:
            raise KnobError("loss, delay_ms and timeout_seconds must be numbers") from exc
        return cls(**{**asdict(base), **data, **numbers})


def signature(secret: str, body: bytes) -> str:
    """ASP.NET WebHooks' ``ms-signature`` value."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender:
    """Posts notifications from background threads (started on first use, not at import)."""

    def __init__(self, seed: int = 0) -> None:
        self.knobs = WebhookKnobs()
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security
        self._lock = threading.Condition()
        self._queue: list[tuple[float, int, str, str, JSON, int]] = []
        self._order = itertools.count()
        self._threads: list[threading.Thread] = []
        self._client: httpx.Client | None = None
        self.counts = {"queued": 0, "lost": 0, "delivered": 0, "failed": 0, "given_up": 0}

    def stats(self) -> JSON:
        """Knobs, counters and what waits."""
        with self._lock:
            return {**asdict(self.knobs), **self.counts, "waiting": len(self._queue)}

    def _http(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                timeout=self.knobs.timeout_seconds, follow_redirects=False, trust_env=False
            )
        return self._client

    def echo_check(self, uri: str) -> bool:
        """ASP.NET WebHooks' check of a new URL: GET ``?echo=<random>`` answered with it.
        True when delivery is off (nothing will be posted)."""
        if not self.knobs.deliver:
            return True
        value = secrets.token_hex(16)
        try:
            response = self._http().get(uri, params={"echo": value})
        except httpx.HTTPError:
            return False
        return response.is_success and response.text.strip() == value

    def notify(self, webhooks: list[JSON], action: str, data: JSON) -> int:
        """Queue a notification of ``action`` to every webhook that takes it; returns how
        many were queued (lost ones not counted)."""
        knobs = self.knobs
        if not knobs.deliver:
            return 0
        takes = _FILTERS_OF.get(action, {"*"})
        queued = 0
        with self._lock:
            for hook in webhooks:
                if hook.get("IsPaused") or not takes & set(hook.get("Filters") or ["*"]):
                    continue
                if self._rng.random() < knobs.loss:
                    self.counts["lost"] += 1
                    continue
                delay = knobs.delay_ms / 1000
                payload = {
                    "Id": uuid.uuid4().hex,
                    "Properties": dict(hook.get("Properties") or {}),
                    "Notifications": [{"Action": action, **data}],
                }
                self._push(time.monotonic() + delay, hook, payload, attempt=1)
                queued += 1
            self._start()
        return queued

    def _push(self, due: float, hook: JSON, payload: JSON, *, attempt: int) -> None:
        item = (due, next(self._order), str(hook["WebHookUri"]), str(hook["Secret"]), payload)
        heapq.heappush(self._queue, (*item, attempt))
        self.counts["queued"] += 1
        self._lock.notify()

    def _start(self) -> None:
        if self._threads:
            return
        for n in range(SENDER_THREADS):
            thread = threading.Thread(target=self._run, name=f"sandbox-webhooks-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def _run(self) -> None:
        while True:
            with self._lock:
                while not self._queue or self._queue[0][0] > time.monotonic():
                    wait = self._queue[0][0] - time.monotonic() if self._queue else None
                    self._lock.wait(wait)
                _due, _n, uri, secret, payload, attempt = heapq.heappop(self._queue)
            self._post(uri, secret, payload, attempt)

    def _post(self, uri: str, secret: str, payload: JSON, attempt: int) -> None:
        body = json.dumps({**payload, "Attempt": attempt}).encode()
        headers = {"ms-signature": signature(secret, body), "Content-Type": "application/json"}
        try:
            ok = self._http().post(uri, content=body, headers=headers).is_success
        except httpx.HTTPError:
            ok = False
        with self._lock:
            if ok:
                self.counts["delivered"] += 1
                return
            self.counts["failed"] += 1
            if attempt > len(RETRY_DELAYS):
                self.counts["given_up"] += 1
                return
            due = time.monotonic() + RETRY_DELAYS[attempt - 1]
            hook = {"WebHookUri": uri, "Secret": secret}
            self._push(due, hook, payload, attempt=attempt + 1)
