"""Fault injection and latency: 5xx, timeouts, a changed API password."""

from __future__ import annotations

import random

import httpx
import pytest
from support.sandbox import MERCHANT, NO_INVOICES, Sandbox, data_of

from billhive.sandbox import FaultSpec, LatencySpec
from billhive.sandbox.faults import FaultInjector, KnobError


def test_an_error_rate_of_one_makes_every_call_a_500(sandbox: Sandbox) -> None:
    sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={"error_rate": 1.0})
    response = sandbox.client().get("/orders")
    assert response.status_code == 500
    assert response.json()["ErrorCode"] == 8


def test_faults_hit_only_the_configured_account(sandbox: Sandbox) -> None:
    sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={"error_rate": 1.0})
    assert sandbox.client(NO_INVOICES).get("/orders").status_code == 200


def test_a_timeout_fault_outlasts_the_clients_timeout(sandbox: Sandbox) -> None:
    sandbox.control.put(
        f"/accounts/{MERCHANT['id']}/faults", json={"timeout_rate": 1.0, "timeout_seconds": 2}
    )
    with pytest.raises(httpx.ReadTimeout):
        sandbox.client(timeout=0.3).get("/orders")


def test_clearing_faults_restores_normal_answers(sandbox: Sandbox) -> None:
    sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={"error_rate": 1.0})
    sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={})
    assert sandbox.client().get("/orders").status_code == 200


def test_fault_settings_are_readable(sandbox: Sandbox) -> None:
    sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={"error_rate": 0.25})
    faults = sandbox.control.get(f"/accounts/{MERCHANT['id']}/faults").json()
    assert faults == {
        "error_rate": 0.25,
        "timeout_rate": 0.0,
        "timeout_seconds": 35.0,
        "bad_gateway_rate": 0.0,
        "unavailable_rate": 0.0,
        "reset_rate": 0.0,
    }


def test_a_share_outside_zero_to_one_is_refused(sandbox: Sandbox) -> None:
    response = sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={"error_rate": 2})
    assert response.status_code == 400
    assert "error_rate" in response.json()["error"]


def test_faults_for_an_unknown_account_answer_404(sandbox: Sandbox) -> None:
    assert sandbox.control.put("/accounts/999/faults", json={}).status_code == 404


def test_a_changed_api_password_rejects_later_calls_with_the_old_one(sandbox: Sandbox) -> None:
    client = sandbox.client()
    assert client.get("/orders").status_code == 200
    sandbox.control.patch(f"/accounts/{MERCHANT['id']}", json={"password": "Changed#Pass2025"})
    assert client.get("/orders").status_code == 401
    assert sandbox.client(password="Changed#Pass2025").get("/orders").status_code == 200


def test_the_error_share_is_roughly_honoured() -> None:
    injector = FaultInjector(seed=1)
    injector.set(7, FaultSpec(error_rate=0.3))
    draws = [injector.draw(7) for _ in range(2000)]
    assert 0.25 < draws.count("error") / len(draws) < 0.35


def test_fixed_latency_is_the_given_milliseconds() -> None:
    assert LatencySpec.parse("25").sample_seconds(random.Random(0)) == 0.025


def test_lognormal_latency_has_the_given_median() -> None:
    spec = LatencySpec.parse("lognormal:20:0.5")
    rng = random.Random(0)
    samples = sorted(spec.sample_seconds(rng) for _ in range(2001))
    assert 0.018 < samples[1000] < 0.022


def test_a_malformed_latency_is_refused_with_its_format() -> None:
    with pytest.raises(KnobError, match="lognormal:MEDIAN_MS"):
        LatencySpec.parse("slow")


def test_latency_can_be_set_through_the_control_api(sandbox: Sandbox) -> None:
    response = sandbox.control.patch("/settings", json={"latency": {"kind": "fixed", "ms": 5}})
    assert response.json()["latency"] == {"kind": "fixed", "ms": 5.0, "sigma": 0.5}
    assert sandbox.client().get("/orders").status_code == 200


def _set_faults(sandbox: Sandbox, **spec: float) -> None:
    response = sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json=spec)
    assert response.status_code == 200, response.text


def _tags_of(sandbox: Sandbox, order_id: int) -> list[str]:
    sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={})
    tags: list[str] = data_of(sandbox.client().get(f"/orders/{order_id}"))["Tags"]
    return tags


def _first_order_id(sandbox: Sandbox) -> int:
    order_id: int = data_of(sandbox.client().get("/orders", params={"pageSize": 1}))[0][
        "BillBeeOrderId"
    ]
    return order_id


def test_a_bad_gateway_fault_answers_the_proxys_html_502_after_billbee_acted(
    sandbox: Sandbox,
) -> None:
    order_id = _first_order_id(sandbox)
    _set_faults(sandbox, bad_gateway_rate=1.0)
    response = sandbox.client().post(f"/orders/{order_id}/tags", json={"Tags": ["502"]})
    assert response.status_code == 502
    assert response.headers["Content-Type"].startswith("text/html")
    assert "<h1>502 Bad Gateway</h1>" in response.text
    assert "502" in _tags_of(sandbox, order_id)  # the write happened all the same


def test_an_unavailable_fault_answers_the_proxys_html_503_before_billbee_acts(
    sandbox: Sandbox,
) -> None:
    order_id = _first_order_id(sandbox)
    _set_faults(sandbox, unavailable_rate=1.0)
    response = sandbox.client().post(f"/orders/{order_id}/tags", json={"Tags": ["503"]})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Service Temporarily Unavailable" in response.text
    assert "503" not in _tags_of(sandbox, order_id)


def test_a_reset_fault_drops_the_connection_mid_body_after_billbee_acted(
    sandbox: Sandbox,
) -> None:
    order_id = _first_order_id(sandbox)
    _set_faults(sandbox, reset_rate=1.0)
    with pytest.raises(httpx.RemoteProtocolError):
        sandbox.client().post(f"/orders/{order_id}/tags", json={"Tags": ["reset"]})
    assert "reset" in _tags_of(sandbox, order_id)


def test_a_timeout_fault_answers_the_proxys_html_504_to_a_patient_client(
    sandbox: Sandbox,
) -> None:
    _set_faults(sandbox, timeout_rate=1.0, timeout_seconds=0.2)
    response = sandbox.client(timeout=5).get("/orders")
    assert response.status_code == 504
    assert "Gateway Time-out" in response.text


def test_an_unknown_fault_setting_is_refused_by_name(sandbox: Sandbox) -> None:
    response = sandbox.control.put(f"/accounts/{MERCHANT['id']}/faults", json={"flaky": 1})
    assert response.status_code == 400
    assert "flaky" in response.json()["error"]


def test_the_fault_shares_together_may_not_exceed_one() -> None:
    with pytest.raises(KnobError, match="together"):
        FaultSpec(bad_gateway_rate=0.6, reset_rate=0.6)


def test_each_failure_mode_is_drawn_at_roughly_its_share() -> None:
    injector = FaultInjector(seed=3)
    injector.set(7, FaultSpec(bad_gateway_rate=0.2, unavailable_rate=0.2, reset_rate=0.2))
    draws = [injector.draw(7) for _ in range(3000)]
    for fault in ("bad_gateway", "unavailable", "reset"):
        assert 0.16 < draws.count(fault) / len(draws) < 0.24
