"""The decision table that follows each Billbee call."""

import random

import pytest

from billhive.billbee.errors import (
    ApiError,
    ConnectionDropped,
    CredentialsRejected,
    ErrorCode,
    InvalidRequest,
    NotFound,
    ProxyError,
    ServerError,
    Throttled,
    TransportError,
)
from billhive.billbee.operations import get_operation
from billhive.workers.outcomes import RetryPolicy, Verdict, decide

STOCK = get_operation("products.update_stock")  # idempotent: absolute values
INVOICE = get_operation("orders.create_invoice")  # not idempotent
POLICY = RetryPolicy(max_attempts=3, base_delay=1.0, max_delay=30.0)


def _server_error() -> ServerError:
    return ServerError("Billbee answered 503", status_code=503)


def _read_timeout() -> TransportError:
    return TransportError("read timeout", may_have_reached_server=True)


def _connect_error() -> TransportError:
    return TransportError("connection refused", may_have_reached_server=False)


def test_no_error_is_success() -> None:
    assert decide(None, STOCK, 1, POLICY).verdict is Verdict.SUCCEEDED


def test_a_429_waits_as_long_as_retry_after_says() -> None:
    decision = decide(
        Throttled("429", retry_after=7.0, retry_after_was_sent=True), STOCK, 1, POLICY
    )
    assert (decision.verdict, decision.delay) == (Verdict.THROTTLED, 7.0)


def test_a_429_is_never_counted_against_the_attempts() -> None:
    decision = decide(
        Throttled("429", retry_after=1.0, retry_after_was_sent=False), STOCK, 99, POLICY
    )
    assert decision.verdict is Verdict.THROTTLED


def test_rejected_credentials_pause_the_tenant() -> None:
    decision = decide(CredentialsRejected("401", status_code=401), STOCK, 1, POLICY)
    assert decision.verdict is Verdict.CREDENTIALS_INVALID


def test_api_access_switched_off_pauses_the_tenant_too() -> None:
    error = ApiError("off", error_code=ErrorCode.ApiNotActivated)
    decision = decide(error, STOCK, 1, POLICY)
    assert decision.verdict is Verdict.CREDENTIALS_INVALID
    assert "API access" in decision.reason


def test_a_non_zero_error_code_fails_with_its_name() -> None:
    error = ApiError("no", error_code=ErrorCode.OrderNotFound)
    decision = decide(error, STOCK, 1, POLICY)
    assert (decision.verdict, decision.reason) == (Verdict.FAILED, "OrderNotFound")


@pytest.mark.parametrize("error", [_server_error(), _read_timeout(), _connect_error()])
def test_an_idempotent_call_is_retried_with_backoff(error: Exception) -> None:
    decision = decide(error, STOCK, 1, POLICY)
    assert decision.verdict is Verdict.RETRY and 0.5 <= decision.delay <= 1.0


def test_backoff_grows_exponentially_and_is_capped() -> None:
    rng = random.Random(1)
    delays = [POLICY.backoff(n, rng) for n in (1, 2, 3, 10)]
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4
    assert 15 <= delays[3] <= 30


def test_an_idempotent_call_fails_after_its_last_attempt() -> None:
    decision = decide(_server_error(), STOCK, 3, POLICY)
    assert decision.verdict is Verdict.FAILED and "3 attempts" in decision.reason


def test_attempts_can_be_configured_per_operation() -> None:
    policy = RetryPolicy(max_attempts=3, attempts_by_operation={STOCK.name: 6})
    assert decide(_server_error(), STOCK, 5, policy).verdict is Verdict.RETRY
    assert decide(_server_error(), STOCK, 6, policy).verdict is Verdict.FAILED


@pytest.mark.parametrize("error", [_server_error(), _read_timeout()])
def test_a_non_idempotent_write_that_may_have_happened_has_an_unknown_outcome(
    error: Exception,
) -> None:
    assert decide(error, INVOICE, 1, POLICY).verdict is Verdict.UNKNOWN_OUTCOME


def test_a_non_idempotent_write_that_never_left_is_retried() -> None:
    assert decide(_connect_error(), INVOICE, 1, POLICY).verdict is Verdict.RETRY


@pytest.mark.parametrize(
    "error",
    [NotFound("404", status_code=404), InvalidRequest("400", status_code=400, billbee_message="x")],
)
def test_client_errors_fail_without_retry(error: Exception) -> None:
    assert decide(error, STOCK, 1, POLICY).verdict is Verdict.FAILED


@pytest.mark.parametrize("status", [502, 504])
def test_a_proxys_502_or_504_page_on_a_non_idempotent_write_has_an_unknown_outcome(
    status: int,
) -> None:
    error = ProxyError("proxy page", status_code=status)
    assert decide(error, INVOICE, 1, POLICY).verdict is Verdict.UNKNOWN_OUTCOME


def test_a_proxys_503_page_never_reached_billbee_so_a_write_is_retried() -> None:
    error = ProxyError("proxy page", status_code=503, retry_after=20.0)
    decision = decide(error, INVOICE, 1, POLICY, random.Random(0))
    assert decision.verdict is Verdict.RETRY
    assert decision.delay >= 20.0  # the page's Retry-After, over a one-second backoff


def test_a_dropped_connection_on_a_write_has_an_unknown_outcome() -> None:
    assert decide(ConnectionDropped("cut"), INVOICE, 1, POLICY).verdict is (Verdict.UNKNOWN_OUTCOME)


def test_a_dropped_connection_on_a_read_is_retried() -> None:
    assert decide(ConnectionDropped("cut"), STOCK, 1, POLICY).verdict is Verdict.RETRY
