"""Checking an enqueue request against the Billbee catalog, naming the exact field.

The workers check the same rules (``CallRejected``); this check runs first so the
developer learns which parameter is wrong (``params.pageSize``), not just "params".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from billhive.billbee.errors import InvalidCall
from billhive.billbee.limits import BULK_ITEMS_MEMBER, bulk_items
from billhive.billbee.operations import OPERATIONS, Operation
from billhive.billbee.request import accepted_names, check_path_value
from billhive.platform.api.errors import ApiError

#: Parameter values Billbee can take in a path or query: scalars or lists of scalars.
_SCALARS = (str, int, float, bool)


def _invalid(message: str, field: str) -> ApiError:
    return ApiError(422, "validation_failed", message, field=field)


def check_operation(name: str) -> Operation:
    """The operation called ``name``; 422 on ``operation`` when there is none."""
    op = OPERATIONS.get(name)
    if op is None:
        raise _invalid(
            f"Unknown Billbee operation {name!r}; see the operation list in the API docs.",
            "operation",
        )
    return op


def check_params(
    name: str, params: Mapping[str, Any], body: Any, bulk_caps: Mapping[str, int] | None = None
) -> Operation:
    """Raise 422 naming the first parameter (or the body) that ``name`` cannot take,
    including a bulk body with more items than ``bulk_caps`` allows for it."""
    op = check_operation(name)
    aliases = accepted_names(op)
    arrays = {q.name for q in op.query_params if q.is_array}
    given: set[str] = set()
    for key, value in params.items():
        spec = aliases.get(key)
        if spec is None:
            accepted = ", ".join(sorted(set(aliases.values()))) or "none"
            raise _invalid(
                f"{op.name} has no parameter {key!r} (accepted: {accepted}).", f"params.{key}"
            )
        items = value if isinstance(value, list) else [value]
        if not all(item is None or isinstance(item, _SCALARS) for item in items):
            raise _invalid(
                f"{key} must be a string, number or boolean (or a list of them).",
                f"params.{key}",
            )
        if isinstance(value, list) and spec not in arrays:
            raise _invalid(f"{key} takes one value, not a list.", f"params.{key}")
        if value is not None and spec in op.path_params:
            try:
                check_path_value(op, spec, value)
            except InvalidCall as exc:
                raise _invalid(f"{exc}.", f"params.{key}") from None
        if value is not None:
            given.add(spec)
    for path_param in op.path_params:
        if path_param not in given:
            raise _invalid(
                f"{op.name} needs the path parameter {path_param!r}.", f"params.{path_param}"
            )
    for query in op.query_params:
        if query.required and query.name not in given:
            raise _invalid(
                f"{op.name} needs the query parameter {query.name!r}.", f"params.{query.name}"
            )
    if body is not None and not op.has_body:
        raise _invalid(f"{op.name} takes no request body.", "body")
    count = bulk_items(op.name, body)
    cap = (bulk_caps or {}).get(op.name)
    if count is not None and cap is not None and count > cap:
        member = BULK_ITEMS_MEMBER.get(op.name)
        raise _invalid(
            f"{op.name} carries at most {cap} items per call (BILLHIVE_BULK_MAX_ITEMS), "
            f"not {count}.",
            f"body.{member}" if member else "body",
        )
    return op
