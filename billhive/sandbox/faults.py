"""Realism knobs: response latency and per-account fault injection.

Randomness here simulates an unreliable remote service; it is not used for security.
"""

from __future__ import annotations

import math
import random
import threading
from dataclasses import asdict, dataclass
from typing import Any, Literal, cast


class KnobError(ValueError):
    """A latency or fault setting is malformed; the message names it."""


@dataclass(frozen=True)
class LatencySpec:
    """Added response latency: a fixed delay, or a lognormal one with a given median.

    ``LatencySpec.parse("25")`` is 25 ms fixed; ``"lognormal:25:0.5"`` has a 25 ms median
    and shape ``sigma`` 0.5 (a long right tail, like real network latency).
    """

    kind: Literal["fixed", "lognormal"] = "fixed"
    ms: float = 0.0
    sigma: float = 0.5

    def __post_init__(self) -> None:
        if self.kind not in ("fixed", "lognormal"):
            raise KnobError(f"latency kind must be 'fixed' or 'lognormal', not {self.kind!r}")
        if self.ms < 0 or self.sigma < 0:
            raise KnobError("latency milliseconds and sigma must not be negative")

    @classmethod
    def parse(cls, text: str) -> LatencySpec:
        """Parse ``"MS"`` or ``"lognormal:MEDIAN_MS[:SIGMA]"``."""
        parts = text.strip().split(":")
        try:
            if len(parts) == 1:
                return cls("fixed", float(parts[0]))
            if parts[0] == "lognormal" and len(parts) in (2, 3):
                sigma = float(parts[2]) if len(parts) == 3 else 0.5
                return cls("lognormal", float(parts[1]), sigma)
        except ValueError:
            pass
        raise KnobError(f"latency {text!r}: use MS or lognormal:MEDIAN_MS[:SIGMA]")

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> LatencySpec:
        """Build from the control API's JSON."""
        kind = data.get("kind", "fixed")
        if kind not in ("fixed", "lognormal"):
            raise KnobError(f"latency kind must be 'fixed' or 'lognormal', not {kind!r}")
        try:
            return cls(kind, float(data.get("ms", 0)), float(data.get("sigma", 0.5)))
        except (TypeError, ValueError) as exc:
            raise KnobError("latency needs numeric 'ms' and 'sigma'") from exc

    def sample_seconds(self, rng: random.Random) -> float:
        """One delay in seconds."""
        if self.ms <= 0:
            return 0.0
        if self.kind == "fixed":
            return self.ms / 1000
        return rng.lognormvariate(math.log(self.ms), self.sigma) / 1000

    def as_dict(self) -> dict[str, Any]:
        """JSON form for the control API."""
        return asdict(self)


#: The failure modes, in the order their shares are drawn.
FAULTS = ("error", "timeout", "bad_gateway", "unavailable", "reset")


@dataclass(frozen=True)
class FaultSpec:
    """Shares of an account's admitted calls that fail, one share per failure mode.

    - ``error_rate``: Billbee itself fails: 500 with the envelope (InternalError); the
      request did nothing.
    - ``timeout_rate``: the request is carried out, then the answer takes
      ``timeout_seconds`` (longer than a client waits); who still listens gets the
      proxy's HTML 504 page.
    - ``bad_gateway_rate``: the request is carried out, then the proxy in front of Billbee
      loses the backend's answer: an HTML 502 page.
    - ``unavailable_rate``: the proxy refuses before the request reaches Billbee (the
      backend is down or in maintenance): an HTML 503 page with ``Retry-After``.
    - ``reset_rate``: the request is carried out, the answer starts (status, headers, part
      of the body) and the connection is reset mid-body.
    """

    error_rate: float = 0.0
    timeout_rate: float = 0.0
    timeout_seconds: float = 35.0
    bad_gateway_rate: float = 0.0
    unavailable_rate: float = 0.0
    reset_rate: float = 0.0

    def __post_init__(self) -> None:
        for fault in FAULTS:
            value = getattr(self, f"{fault}_rate")
            if not 0.0 <= value <= 1.0:
                raise KnobError(f"{fault}_rate must be between 0 and 1, not {value}")
        if sum(getattr(self, f"{fault}_rate") for fault in FAULTS) > 1.0:
            raise KnobError("the fault rates together must not exceed 1")
        if self.timeout_seconds < 0:
            raise KnobError("timeout_seconds must not be negative")

    @property
    def any(self) -> bool:
        """True when some share is above zero."""
        return any(getattr(self, f"{fault}_rate") for fault in FAULTS)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultSpec:
        """Build from the control API's JSON (unknown keys are refused by name)."""
        known = {f"{fault}_rate" for fault in FAULTS} | {"timeout_seconds"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise KnobError(f"unknown fault setting {unknown[0]!r} (known: {sorted(known)})")
        try:
            values = {name: float(value) for name, value in data.items()}
        except (TypeError, ValueError) as exc:
            raise KnobError("fault settings must be numbers") from exc
        return cls(**values)


Fault = Literal["error", "timeout", "bad_gateway", "unavailable", "reset"]


class FaultInjector:
    """Per-account fault settings and a seeded random source (reproducible runs)."""

    def __init__(self, seed: int = 0) -> None:
        self._lock = threading.Lock()
        self._specs: dict[int, FaultSpec] = {}
        self._rng = random.Random(seed)  # noqa: S311 - simulation, not security

    def set(self, account_id: int, spec: FaultSpec) -> None:
        """Replace an account's fault settings."""
        with self._lock:
            self._specs[account_id] = spec

    def get(self, account_id: int) -> FaultSpec:
        """An account's fault settings (none by default)."""
        return self._specs.get(account_id, FaultSpec())

    def draw(self, account_id: int) -> Fault | None:
        """Decide whether this call of ``account_id`` fails, and how."""
        spec = self._specs.get(account_id)
        if spec is None or not spec.any:
            return None
        with self._lock:
            roll = self._rng.random()
        edge = 0.0
        for fault in FAULTS:
            edge += getattr(spec, f"{fault}_rate")
            if roll < edge:
                return cast(Fault, fault)
        return None

    def latency_rng(self) -> random.Random:
        """A random source for latency samples (seeded, shared)."""
        return self._rng
