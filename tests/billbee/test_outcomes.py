"""Reading Retry-After and classifying transport failures."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx
import pytest

from billhive.billbee.outcomes import SecretScrubber, parse_retry_after, transport_error

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("3", 3.0),
        ("0.5", 0.5),
        ("-4", 0.0),
        ("Thu, 01 Jan 2026 12:00:10 GMT", 10.0),
        ("Thu, 01 Jan 2026 11:00:00 GMT", 0.0),
    ],
)
def test_retry_after_reads_seconds_and_http_dates(header: str, seconds: float) -> None:
    assert parse_retry_after(header, now=NOW) == seconds


@pytest.mark.parametrize("header", [None, "", "soon", "nan", "inf"])
def test_an_unusable_retry_after_is_none(header: str | None) -> None:
    assert parse_retry_after(header, now=NOW) is None


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused"),
        httpx.ConnectTimeout("slow handshake"),
        httpx.PoolTimeout("no free connection"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_failures_before_sending_never_reached_billbee(exc: httpx.TransportError) -> None:
    assert transport_error(exc, "orders.create").may_have_reached_server is False


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ReadTimeout("slow answer"),
        httpx.WriteTimeout("slow upload"),
        httpx.RemoteProtocolError("peer closed connection"),
        httpx.ReadError("reset"),
    ],
    ids=lambda e: type(e).__name__,
)
def test_failures_after_sending_may_have_reached_billbee(exc: httpx.TransportError) -> None:
    error = transport_error(exc, "orders.create")
    assert error.may_have_reached_server is True
    assert type(exc).__name__ in str(error)


def test_the_scrubber_replaces_every_secret_longest_first() -> None:
    scrub = SecretScrubber(["abc", "abcdef", ""])
    assert scrub("user abcdef and abc") == "user [redacted] and [redacted]"
    assert "abc" not in repr(scrub)
