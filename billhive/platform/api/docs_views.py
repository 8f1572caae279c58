"""The OpenAPI document (``/api/v1/openapi.json``) and its HTML rendering (``/api/docs``).

The docs page is rendered on the server from the same document, with no script or CDN.
"""

from __future__ import annotations

import re
from typing import Any

from flask import jsonify, render_template
from flask.typing import ResponseReturnValue
from markupsafe import Markup, escape

from billhive.billbee.operations import OPERATIONS
from billhive.platform.api.blueprint import API_PREFIX, public_bp
from billhive.platform.api.errors import ERROR_CODES
from billhive.platform.api.openapi import openapi_document

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


@public_bp.get(f"{API_PREFIX}/openapi.json")
def document() -> ResponseReturnValue:
    """The OpenAPI 3.1 document of the API."""
    return jsonify(openapi_document())


def schema_type(schema: dict[str, Any]) -> str:
    """A short readable type of a JSON schema (``string``, ``CallOut[]``, ``integer | null``)."""
    if "$ref" in schema:
        return str(schema["$ref"]).rsplit("/", 1)[-1]
    if "anyOf" in schema:
        return " | ".join(schema_type(s) for s in schema["anyOf"])
    kind = schema.get("type")
    if kind == "array":
        return schema_type(schema.get("items", {})) + "[]"
    if kind is None:
        return "any JSON"
    text = str(kind)
    if "format" in schema:
        text += f" ({schema['format']})"
    if "enum" in schema:
        text += ": " + ", ".join(map(str, schema["enum"]))
    return text


def endpoints(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's operations in order, flattened for the template."""
    found = []
    for path, item in document["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                found.append({"path": path, "method": method.upper(), **item[method]})
    return found


_CODE = re.compile(r"`([^`]+)`")
_STRONG = re.compile(r"\*\*([^*]+)\*\*")


def inline_markup(text: str) -> Markup:
    """The document's descriptions with `code` and **bold** as HTML (all else escaped)."""
    html = str(escape(text))
    html = _CODE.sub(r"<code>\1</code>", html)
    return Markup(_STRONG.sub(r"<strong>\1</strong>", html))  # noqa: S704 - escaped above


@public_bp.get("/api/docs")
def docs_page() -> ResponseReturnValue:
    """The API reference as a page: endpoints, parameters, schemas, operations."""
    doc = openapi_document()
    return render_template(
        "api/docs.html",
        doc=doc,
        endpoints=endpoints(doc),
        schemas=doc["components"]["schemas"],
        schema_type=schema_type,
        markup=inline_markup,
        error_codes=sorted(ERROR_CODES.items(), key=lambda item: (item[1], item[0])),
        operations=sorted(OPERATIONS.values(), key=lambda op: op.name),
    )
