"""Turning an operation and its parameters into a path and a query, checked before sending.

Parameters may be given by their spec names (``pageSize``, ``minInvoiceDate``) or by
their Python names (``page_size``, ``min_invoice_date``). Unknown names, missing path
parameters and missing required query parameters raise :class:`InvalidCall` naming the
parameter, so a bad call fails here instead of as a puzzling 400 from Billbee. The platform
may call :func:`normalize_params` to check a call before it queues it.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from functools import cache
from typing import Any
from urllib.parse import quote

from billhive.billbee.errors import InvalidCall
from billhive.billbee.operations import Operation, QueryParam

_CAMEL_BOUNDARY = re.compile(r"(?<!^)(?=[A-Z])")
_INTEGER_TEXT = re.compile(r"-?[0-9]+")
_SEQUENCES = (list, tuple, set, frozenset)
#: What a path segment value may not contain: a slash or backslash (a new segment once a
#: server decodes it), control characters, or an encoded dot, slash or backslash.
_UNSAFE_SEGMENT = re.compile(r"[/\\\x00-\x1f\x7f]|%(?:2e|2f|5c)", re.IGNORECASE)
_INT64 = (-(2**63), 2**63 - 1)


def python_name(spec_name: str) -> str:
    """The snake_case name a spec parameter is accepted under (``pageSize`` -> ``page_size``)."""
    return _CAMEL_BOUNDARY.sub("_", spec_name).lower()


@cache
def _aliases(op: Operation) -> dict[str, str]:
    """Every accepted parameter name of ``op`` -> its spec name."""
    return accepted_names(op)


def accepted_names(op: Operation) -> dict[str, str]:
    """Every name a parameter of ``op`` is accepted under -> its spec name: the spec name,
    its snake_case, and the declared Python name of a spec name that is no identifier."""
    names = [*op.path_params, *(q.name for q in op.query_params)]
    table = {python_name(name): name for name in names}
    table.update({q.python: q.name for q in op.query_params if q.python})
    table.update({name: name for name in names})
    return table


@dataclass(frozen=True)
class PreparedRequest:
    """What goes on the wire for one call, minus headers and body."""

    method: str
    path: str
    query: tuple[tuple[str, str], ...]
    #: Deprecated parameters the call uses (spec names), for the client's warning.
    deprecated_params: tuple[str, ...] = ()


def normalize_params(op: Operation, params: Mapping[str, Any] | None) -> dict[str, Any]:
    """``params`` keyed by spec names, None values dropped; raises InvalidCall on bad names."""
    if not params:
        normalized: dict[str, Any] = {}
    else:
        aliases = _aliases(op)
        normalized = {}
        for name, value in params.items():
            spec_name = aliases.get(name)
            if spec_name is None:
                accepted = ", ".join(sorted(set(aliases.values()))) or "none"
                raise InvalidCall(
                    f"{op.name} has no parameter {name!r} (accepted: {accepted})", param=name
                )
            if spec_name in normalized:
                raise InvalidCall(
                    f"{op.name}: parameter {spec_name!r} is given twice", param=spec_name
                )
            if value is not None:
                normalized[spec_name] = value
    for name in op.path_params:
        if name not in normalized or normalized[name] == "":
            raise InvalidCall(f"{op.name} needs the path parameter {name!r}", param=name)
        check_path_value(op, name, normalized[name])
    for query in op.query_params:
        if query.name in normalized:
            _check_value(op, query, normalized[query.name])
        elif query.required:
            raise InvalidCall(
                f"{op.name} needs the query parameter {query.name!r}", param=query.name
            )
    return normalized


def check_path_value(op: Operation, name: str, value: Any) -> None:
    """Raise InvalidCall (naming ``name``) unless ``value`` can be path parameter ``name``.

    A path value must stay one segment of the operation's own path: an integer where the
    spec says integer, and never ``.``, ``..`` or a value with a slash, backslash, control
    character or an encoded one of those, which would let a call reach another Billbee
    path than its operation's (and so escape the catalog and its limit buckets).
    """
    if op.path_param_type(name) == "integer":
        number = _as_int(value)
        if number is None or not _INT64[0] <= number <= _INT64[1]:
            raise InvalidCall(
                f"{op.name}: path parameter {name!r} must be an integer, "
                f"not {type(value).__name__} {str(value)[:40]!r}",
                param=name,
            )
        return
    if not isinstance(value, str | int) or isinstance(value, bool):
        raise InvalidCall(
            f"{op.name}: path parameter {name!r} must be a string, not {type(value).__name__}",
            param=name,
        )
    text = str(value)
    if not text.strip(".") or _UNSAFE_SEGMENT.search(text):
        raise InvalidCall(
            f"{op.name}: path parameter {name!r} may not be '.' or '..' or contain a slash, "
            "a backslash, a control character or an encoded dot or slash",
            param=name,
        )


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INTEGER_TEXT.fullmatch(value):
        return int(value)
    return None


def _fits(type_: str, value: Any) -> bool:
    """Whether ``value`` can be sent for a spec parameter of JSON-schema type ``type_``."""
    if type_ == "integer":
        if isinstance(value, str):
            return _INTEGER_TEXT.fullmatch(value) is not None
        return isinstance(value, int) and not isinstance(value, bool)
    if type_ == "boolean":
        return isinstance(value, bool) or (
            isinstance(value, str) and value.lower() in ("true", "false")
        )
    return isinstance(value, str | int | float | date) and not isinstance(value, bool)


def _check_value(op: Operation, param: QueryParam, value: Any) -> None:
    """Raise InvalidCall unless ``value`` suits ``param`` (a list only for array parameters)."""
    if isinstance(value, _SEQUENCES):
        if not param.is_array:
            raise InvalidCall(
                f"{op.name} takes one value for {param.name!r}, not a list", param=param.name
            )
        items: Any = value
    else:
        items = (value,)
    for item in items:
        if not _fits(param.type, item):
            raise InvalidCall(
                f"{op.name}: {param.name!r} must be {'a list of ' if param.is_array else ''}"
                f"{param.type} values, not {type(item).__name__} {str(item)[:40]!r}",
                param=param.name,
            )


def render_value(value: Any) -> str:
    """One parameter value as Billbee reads it (booleans lower-case, dates ISO 8601)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    return str(value)


def array_key(name: str, index: int) -> str:
    """The query key of item ``index`` of an array parameter: ``shopId[0]``."""
    return f"{name}[{index}]"


def prepare(op: Operation, params: Mapping[str, Any] | None) -> PreparedRequest:
    """The path (relative to the API base) and query of one call of ``op``.

    Array parameters become indexed keys (``shopId[0]=1&shopId[1]=2``), as both official
    SDKs send them (billbee-csharp-sdk OrderEndPoint.GetOrderList builds ``shopId[{i}]``;
    billbee-php-sdk hands arrays to Guzzle, whose ``http_build_query`` writes
    ``shopId%5B0%5D``): they talk to Billbee every day, while the spec's ``explode: true``
    (repeated keys) is the Swagger generator's rendering. A scalar given for an array
    parameter is sent as item 0.
    """
    values = normalize_params(op, params)
    path = op.path
    for name in op.path_params:
        path = path.replace("{" + name + "}", quote(render_value(values[name]), safe=""))
    query: list[tuple[str, str]] = []
    for param in op.query_params:
        if param.name not in values:
            continue
        value = values[param.name]
        if param.is_array:
            items = value if isinstance(value, _SEQUENCES) else (value,)
            query.extend(
                (array_key(param.name, index), render_value(item))
                for index, item in enumerate(items)
            )
        else:
            query.append((param.name, render_value(value)))
    deprecated = tuple(q.name for q in op.query_params if q.deprecated and q.name in values)
    return PreparedRequest(
        method=op.method, path=path, query=tuple(query), deprecated_params=deprecated
    )
