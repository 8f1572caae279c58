"""GET /_sandbox/stats: accepted and throttled calls per key and per account."""

from __future__ import annotations

from collections.abc import Callable

from support.sandbox import API_KEY, MERCHANT, NO_INVOICES, ManualClock, Sandbox

from billhive.sandbox.stats import key_label


def test_stats_count_accepted_and_throttled_calls_per_account(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    client = sandbox.client()
    for _ in range(3):
        client.get("/orders")
    stats = sandbox.control.get("/stats").json()
    assert stats["accounts"][str(MERCHANT["id"])] == {"accepted": 2, "throttled": 1}


def test_stats_count_calls_per_api_key_under_a_fingerprint(
    sandbox_factory: Callable[..., Sandbox],
) -> None:
    sandbox = sandbox_factory(clock=ManualClock())
    sandbox.client().get("/orders")
    sandbox.client(NO_INVOICES).get("/orders")
    stats = sandbox.control.get("/stats").json()
    assert stats["keys"] == {key_label(API_KEY): {"accepted": 2, "throttled": 0}}
    assert API_KEY not in str(stats)


def test_stats_show_totals(sandbox: Sandbox) -> None:
    sandbox.client().get("/orders")
    assert sandbox.control.get("/stats").json()["total"] == {"accepted": 1, "throttled": 0}


def test_rejected_credentials_are_not_counted(sandbox: Sandbox) -> None:
    sandbox.client(password="Wrong#Password2025").get("/orders")
    assert sandbox.control.get("/stats").json()["total"]["accepted"] == 0


def test_reset_stats_starts_counting_from_zero(sandbox: Sandbox) -> None:
    sandbox.client().get("/orders")
    sandbox.control.post("/reset-stats")
    assert sandbox.control.get("/stats").json()["accounts"] == {}
