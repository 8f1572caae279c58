"""The OpenAPI document: valid 3.1, in sync with the routes, rendered as a docs page."""

from __future__ import annotations

import re
from typing import Any

from openapi_spec_validator import validate

from billhive.platform.api.errors import ERROR_CODES
from billhive.platform.api.openapi import openapi_document

IGNORED_METHODS = {"HEAD", "OPTIONS"}


def _routes(app: Any) -> set[tuple[str, str]]:
    found = set()
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/v1/"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - IGNORED_METHODS:
            found.add((method.lower(), path))
    return found


def _documented() -> set[tuple[str, str]]:
    return {
        (method, path)
        for path, item in openapi_document()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }


def test_the_document_is_valid_openapi_3_1() -> None:
    document = openapi_document()
    assert document["openapi"].startswith("3.1")
    validate(document)


def test_every_api_route_is_documented_and_every_documented_path_is_a_route(app: Any) -> None:
    assert _routes(app) == _documented()


def test_the_document_is_served_without_a_token(client: Any) -> None:
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    assert response.json == openapi_document()


def test_every_error_code_is_listed_in_the_document() -> None:
    description = openapi_document()["info"]["description"]
    assert all(f"`{code}`" in description for code in ERROR_CODES)


def test_every_operation_has_an_id_and_documents_401_and_429() -> None:
    for path, item in openapi_document()["paths"].items():
        for method, operation in item.items():
            assert operation["operationId"], (method, path)
            if operation.get("security") != []:
                assert {"401", "429"} <= set(operation["responses"]), (method, path)


def test_the_docs_page_shows_every_endpoint_and_schema(client: Any) -> None:
    response = client.get("/api/docs")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    for method, path in _documented():
        assert f"{method.upper()} {path}" in page
    for name in openapi_document()["components"]["schemas"]:
        assert f'id="schema-{name}"' in page
    for code in ERROR_CODES:
        assert f"<code>{code}</code>" in page
    assert "orders.list" in page
    assert "<strong>Authentication</strong>" in page
    assert "<script" not in page


def test_the_document_lists_the_operations_billbee_deprecated() -> None:
    schema = openapi_document()["components"]["schemas"]["EnqueueCallRequest"]
    deprecated = schema["properties"]["operation"]["x-deprecated"]
    assert set(deprecated) == {
        "shipments.ping",
        "orders.find_by_partner",
        "customers.patch_address",
    }
    assert "customer_addresses.update" in deprecated["customers.patch_address"]


def test_the_docs_page_marks_deprecated_operations_and_parameters(client: Any) -> None:
    page = client.get("/api/docs").get_data(as_text=True)
    assert '<tr class="deprecated"><td><code>shipments.ping</code>' in page
    assert "(deprecated: set ApiAccountId in the order instead)" in page
