"""Enums, events, shipments, and the 501 answer for operations the sandbox lacks."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from support.sandbox import bare, data_of

from billhive.billbee.operations import OPERATIONS
from billhive.sandbox import implemented_operations

NOT_IMPLEMENTED = sorted(set(OPERATIONS) - set(implemented_operations()))


def test_order_states_enum_lists_billbees_states(api: httpx.Client) -> None:
    states = api.get("/enums/orderstates").json()
    assert {"Id": 4, "Name": "Versendet"} in states


@pytest.mark.parametrize(
    "path", ["/enums/paymenttypes", "/enums/shipmenttypes", "/enums/shippingcarriers"]
)
def test_every_enum_is_a_list_of_ids_and_names(api: httpx.Client, path: str) -> None:
    entries = api.get(path).json()
    assert entries and all(set(e) == {"Id", "Name"} for e in entries)


def test_events_are_paged(api: httpx.Client) -> None:
    response = api.get("/events", params={"pageSize": 3})
    assert len(data_of(response)) == 3
    assert response.json()["Paging"]["TotalRows"] > 3


def test_events_filter_by_date(api: httpx.Client) -> None:
    events = data_of(api.get("/events", params={"minDate": "2025-11-01T00:00:00"}))
    assert events and all(e["Created"] >= "2025-11-01" for e in events)


def test_shipments_list_holds_the_seeded_shipments(api: httpx.Client) -> None:
    shipments = data_of(api.get("/shipment/shipments"))
    assert shipments and all(s["Shipper"] == "DHL" for s in shipments)


def test_shipments_filter_by_minimum_id(api: httpx.Client) -> None:
    shipments = data_of(api.get("/shipment/shipments"))
    later = data_of(
        api.get("/shipment/shipments", params={"minimumShipmentId": shipments[1]["BillbeeId"]})
    )
    assert len(later) == len(shipments) - 1


def test_shipping_providers_are_a_bare_list_with_products(api: httpx.Client) -> None:
    providers = bare(api.get("/shipment/shippingproviders"))
    assert providers[0]["products"]


def test_shipment_ping_answers(api: httpx.Client) -> None:
    assert data_of(api.get("/shipment/ping")) == "pong"


@pytest.mark.parametrize("name", NOT_IMPLEMENTED)
def test_an_operation_the_sandbox_lacks_answers_501_inside_the_envelope(
    api: httpx.Client, name: str
) -> None:
    operation = OPERATIONS[name]
    path = operation.path
    for param in operation.path_params:
        path = path.replace("{" + param + "}", "1")
    response = api.request(operation.method, path, json={} if operation.has_body else None)
    assert response.status_code == 501
    assert response.json()["ErrorCode"] != 0
    assert name in response.json()["ErrorMessage"]


def test_an_unknown_path_answers_404_with_asp_net_s_message(api: httpx.Client) -> None:
    response = api.get("/no-such-thing")
    assert response.status_code == 404
    assert response.json() == {
        "Message": "No HTTP resource was found that matches the request URI "
        f"'{response.request.url}'."
    }


def test_a_method_the_spec_lacks_answers_405_with_asp_net_s_message(api: httpx.Client) -> None:
    response = api.delete("/orders")
    assert response.status_code == 405
    assert response.json() == {
        "Message": "The requested resource does not support http method 'DELETE'."
    }


def test_docs_list_every_implemented_operation() -> None:
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sandbox.md").read_text(encoding="utf-8")
    missing = [name for name in implemented_operations() if f"| `{name}` |" not in docs]
    assert missing == []
