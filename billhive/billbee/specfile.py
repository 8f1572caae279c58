"""Billbee's API description: the 2023 file, and the same with billhive's supplement applied.

``spec/openapi.json`` is Billbee's published description of 2023 (76 operations), kept as
published. ``spec/supplement.json`` describes what Billbee's API gained since (11
operations, newer fields and values) and what it deprecated, each with its source. The
supplemented description is what the catalog (:mod:`billhive.billbee.operations`) and the
sandbox are checked against. Files are read when asked for, never at import time.
"""

from __future__ import annotations

import copy
import json
from functools import cache
from pathlib import Path
from typing import Any

SPEC_DIR = Path(__file__).parent / "spec"
BASE_FILE = SPEC_DIR / "openapi.json"
SUPPLEMENT_FILE = SPEC_DIR / "supplement.json"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")
#: The source of every operation of the 2023 file (a key of ``operations.SOURCES``).
BASE_SOURCE = "spec-2023"

JSONDict = dict[str, Any]


class SupplementError(ValueError):
    """The supplement does not fit the 2023 file (the message names the entry)."""


def _read(path: Path) -> JSONDict:
    data: JSONDict = json.loads(path.read_text(encoding="utf-8"))
    return data


@cache
def _base() -> JSONDict:
    return _read(BASE_FILE)


@cache
def _supplement() -> JSONDict:
    return _read(SUPPLEMENT_FILE)


def base_spec() -> JSONDict:
    """Billbee's description of 2023, as published (a copy the caller may change)."""
    return copy.deepcopy(_base())


def supplement() -> JSONDict:
    """The supplement file (a copy)."""
    return copy.deepcopy(_supplement())


@cache
def _supplemented() -> JSONDict:
    return apply_supplement(base_spec(), supplement())


def supplemented_spec() -> JSONDict:
    """The 2023 description with the supplement applied (a copy the caller may change)."""
    return copy.deepcopy(_supplemented())


def apply_supplement(spec: JSONDict, extra: JSONDict) -> JSONDict:
    """Apply ``extra`` (the supplement's format, see its ``x-billhive.about``) to ``spec``.

    Every operation of the result carries ``x-billhive-source``. Raises SupplementError
    when the supplement would replace an operation, patch one that does not exist, or
    change a schema the spec lacks: a supplement only ever adds to the published file.
    """
    for item in spec["paths"].values():
        for method in HTTP_METHODS:
            if method in item:
                item[method].setdefault("x-billhive-source", BASE_SOURCE)
    for path, item in extra.get("paths", {}).items():
        target = spec["paths"].setdefault(path, {})
        for method, operation in item.items():
            if method in target:
                raise SupplementError(f"{method.upper()} {path} is already in the 2023 file")
            if "x-billhive-source" not in operation:
                raise SupplementError(f"{method.upper()} {path} names no x-billhive-source")
            target[method] = operation
    for route, patch in extra.get("operations", {}).items():
        _patch_operation(spec, route, patch)
    schemas = spec["components"]["schemas"]
    for name, schema in extra.get("components", {}).get("schemas", {}).items():
        if name in schemas:
            raise SupplementError(f"schema {name} is already in the 2023 file")
        schemas[name] = schema
    for name, change in extra.get("schemas", {}).items():
        targets = list(schemas.values()) if name == "*" else [_schema(schemas, name)]
        for schema in targets:
            _change_schema(schema, change, strict=name != "*", where=name)
    return spec


def _patch_operation(spec: JSONDict, route: str, patch: JSONDict) -> None:
    method, _, path = route.partition(" ")
    operation = spec["paths"].get(path, {}).get(method.lower())
    if operation is None:
        raise SupplementError(f"{route}: no such operation to patch")
    for key, value in patch.items():
        if key != "parameters":
            operation[key] = value
            continue
        for name, changes in value.items():
            found = [p for p in operation.get("parameters", []) if p["name"] == name]
            if not found:
                raise SupplementError(f"{route}: no parameter {name!r} to patch")
            found[0].update(changes)


def _schema(schemas: JSONDict, name: str) -> JSONDict:
    if name not in schemas:
        raise SupplementError(f"schema {name} is not in the 2023 file")
    schema: JSONDict = schemas[name]
    return schema


def _change_schema(schema: JSONDict, change: JSONDict, *, strict: bool, where: str) -> None:
    properties = schema.setdefault("properties", {})
    for prop, definition in change.get("properties", {}).items():
        if prop in properties:
            raise SupplementError(f"{where}.{prop} is already in the 2023 file")
        properties[prop] = definition
    for prop, values in change.get("enum", {}).items():
        if prop not in properties:
            if strict:
                raise SupplementError(f"{where}.{prop} is not in the 2023 file")
            continue
        if "enum" in properties[prop]:
            properties[prop]["enum"] = values


def operations_of(spec: JSONDict) -> dict[tuple[str, str], JSONDict]:
    """Every operation of ``spec`` by (METHOD, path)."""
    found: dict[tuple[str, str], JSONDict] = {}
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method in HTTP_METHODS:
                found[(method.upper(), path)] = operation
    return found
