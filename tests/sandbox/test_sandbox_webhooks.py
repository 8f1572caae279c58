"""Webhooks: create, list, get, update, delete, filters."""

from __future__ import annotations

from typing import Any

import httpx
from support.sandbox import empty_ok

SECRET = "s" * 32


def _create(api: httpx.Client, **fields: Any) -> dict[str, Any]:
    response = api.post(
        "/webhooks", json={"WebHookUri": "https://example.com/hook", "Secret": SECRET, **fields}
    )
    assert response.status_code == 200, response.text
    webhook: dict[str, Any] = response.json()
    return webhook


def test_create_webhook_returns_it_with_an_id(api: httpx.Client) -> None:
    webhook = _create(api, Filters=["Order.Created"])
    assert webhook["Id"] and webhook["Filters"] == ["Order.Created"]


def test_a_created_webhook_is_listed_and_found(api: httpx.Client) -> None:
    webhook = _create(api)
    assert api.get("/webhooks").json() == [webhook]
    assert api.get(f"/webhooks/{webhook['Id']}").json() == webhook


def test_a_secret_shorter_than_32_characters_is_invalid_data(api: httpx.Client) -> None:
    response = api.post(
        "/webhooks", json={"WebHookUri": "https://example.com/h", "Secret": "short"}
    )
    assert response.status_code == 400
    assert "Secret" in response.json()["ErrorMessage"]


def test_a_secret_longer_than_64_characters_is_invalid_data(api: httpx.Client) -> None:
    response = api.post(
        "/webhooks", json={"WebHookUri": "https://example.com/h", "Secret": "s" * 65}
    )
    assert response.status_code == 400


def test_an_unknown_filter_is_invalid_data(api: httpx.Client) -> None:
    response = api.post(
        "/webhooks",
        json={"WebHookUri": "https://example.com/h", "Secret": SECRET, "Filters": ["Nope"]},
    )
    assert response.status_code == 400


def test_update_webhook(api: httpx.Client) -> None:
    webhook = _create(api)
    empty_ok(api.put(f"/webhooks/{webhook['Id']}", json={**webhook, "IsPaused": True}))
    updated = api.get(f"/webhooks/{webhook['Id']}").json()
    assert updated["IsPaused"] is True and updated["Id"] == webhook["Id"]


def test_delete_webhook(api: httpx.Client) -> None:
    webhook = _create(api)
    empty_ok(api.delete(f"/webhooks/{webhook['Id']}"))
    assert api.get(f"/webhooks/{webhook['Id']}").status_code == 404


def test_delete_all_webhooks(api: httpx.Client) -> None:
    _create(api)
    _create(api)
    api.delete("/webhooks")
    assert api.get("/webhooks").json() == []


def test_filters_are_listed_with_names_and_descriptions(api: httpx.Client) -> None:
    filters = api.get("/webhooks/filters").json()
    assert {"Name", "Description"} == set(filters[0])
    assert "Order.Created" in {f["Name"] for f in filters}
