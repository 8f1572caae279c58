"""Everything one sandbox process holds: accounts, data, throttle, stats and knobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from billhive.billbee.limits import BULK_MAX_ITEMS, STOCK_BATCH_OPERATION
from billhive.sandbox.accounts import AccountRegistry
from billhive.sandbox.changes import ChangeGenerator, ChangeLog
from billhive.sandbox.faults import FaultInjector, LatencySpec
from billhive.sandbox.seed import seed_account
from billhive.sandbox.state import StateStore
from billhive.sandbox.stats import CallStats
from billhive.sandbox.throttle import SlidingWindowThrottle
from billhive.sandbox.usage import UsageLedger
from billhive.sandbox.webhook_delivery import WebhookSender

#: The generator's changes are written to the state file at most this often.
SAVE_EVERY_SECONDS = 5.0


@dataclass
class SandboxRuntime:
    """The sandbox's process-wide state (kept in ``app.extensions["billhive_sandbox"]``)."""

    registry: AccountRegistry
    store: StateStore
    throttle_enabled: bool = True
    send_retry_after: bool = True
    latency: LatencySpec = field(default_factory=LatencySpec)
    #: Most items per call of each bulk operation (Billbee publishes none: the catalog's
    #: conservative defaults, the platform's too).
    bulk_caps: dict[str, int] = field(default_factory=lambda: dict(BULK_MAX_ITEMS))
    clock: Callable[[], float] = time.monotonic
    throttle: SlidingWindowThrottle = field(init=False)
    stats: CallStats = field(default_factory=CallStats)
    faults: FaultInjector = field(default_factory=FaultInjector)
    usage: UsageLedger = field(default_factory=UsageLedger)
    webhooks: WebhookSender = field(default_factory=WebhookSender)
    changes: ChangeLog = field(default_factory=ChangeLog)
    generator: ChangeGenerator = field(init=False)

    def __post_init__(self) -> None:
        self.throttle = SlidingWindowThrottle(self.clock)
        self._saved_at = 0.0
        self.generator = ChangeGenerator(
            self.store.all_states, self.changes, self.webhooks, on_change=self._save_now_and_then
        )

    def _save_now_and_then(self) -> None:
        # Writing every account to the state file is slow: the generator's changes are
        # kept at most every few seconds (a change made through the API is saved at once).
        if time.monotonic() - self._saved_at >= SAVE_EVERY_SECONDS:
            self._saved_at = time.monotonic()
            self.store.save()

    @property
    def max_stock_batch(self) -> int:
        """Most entries one updatestockmultiple takes."""
        return self.bulk_caps[STOCK_BATCH_OPERATION]

    @classmethod
    def build(
        cls, registry: AccountRegistry, *, state_file: str | None = None, **knobs: object
    ) -> SandboxRuntime:
        """A runtime whose accounts hold their demo data from the start.

        Accounts added later are seeded on first use. Seeding the known ones now keeps the
        sandbox's heap still while it serves: data created on first use kept the garbage
        collector walking a growing heap, stopping every thread for 100-240 ms at a time
        (the web server freezes what exists when the app is built, see webserver.py), and
        the calls that arrived meanwhile reached the throttle together, as if sent so.
        """
        runtime = cls(registry, StateStore(seed_account, state_file), **knobs)  # type: ignore[arg-type]
        for account in registry.all():
            runtime.store.for_account(account)
        return runtime

    def reset_throttle(self) -> None:
        """Forget every recorded call time (tests start from empty windows)."""
        self.throttle = SlidingWindowThrottle(self.clock)
