"""Reading request bodies, query strings and headers into checked values.

Everything malformed becomes an :class:`ApiError` naming the field: a 400 for input that
cannot be read at all (broken JSON, a query value of the wrong type), a 422 for a readable
request that breaks a rule.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from typing import Any, TypeVar

from flask import g, request
from pydantic import BaseModel, ValidationError

from billhive.platform.api.errors import ApiError

M = TypeVar("M", bound=BaseModel)

#: Page sizes of list endpoints.
DEFAULT_LIMIT = 50
MAX_LIMIT = 200
#: Ids beyond this are not ids of anything (and would overflow a database integer).
MAX_ID = 2**31 - 1
MAX_BIG_ID = 2**63 - 1


def _no_constants(name: str) -> Any:
    # NaN and Infinity are not JSON, and PostgreSQL's json type would refuse them later.
    raise ValueError(f"{name} is not a JSON value")


def _finite_float(text: str) -> float:
    # 1e400 parses as infinity, which no JSON column (nor Billbee) can take.
    value = float(text)
    if math.isinf(value):
        raise ValueError(f"number {text[:40]} is out of range")
    return value


def json_body() -> Any:
    """The request's JSON body; 400 ``invalid_json`` when it is missing or broken."""
    if "api_json" in g:
        return g.api_json
    raw = request.get_data(cache=True)
    if not raw.strip():
        raise ApiError(400, "invalid_json", "The request needs a JSON body.")
    try:
        data = json.loads(raw, parse_constant=_no_constants, parse_float=_finite_float)
        # Lone surrogates ("\ud800") decode but cannot be stored as UTF-8: refuse them here.
        json.dumps(data, ensure_ascii=False).encode("utf-8")
    except (ValueError, RecursionError) as exc:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {exc}") from None
    g.api_json = data
    return data


def parse_body(model: type[M]) -> M:
    """The JSON body validated as ``model``; 422 naming the first field at fault."""
    try:
        return model.model_validate(json_body())
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field = ".".join(str(part) for part in first["loc"]) or None
        where = f"{field}: " if field else ""
        raise ApiError(422, "validation_failed", where + first["msg"], field=field) from None


def query_int(name: str, *, default: int | None, low: int, high: int) -> int | None:
    """An integer query parameter within ``[low, high]``, or ``default`` when absent."""
    raw = request.args.get(name)
    if raw is None:
        return default
    if not raw.isascii() or not raw.lstrip("-").isdigit() or len(raw) > 20:
        raise ApiError(400, "invalid_query", f"{name} must be an integer.", field=name)
    value = int(raw)
    if not low <= value <= high:
        raise ApiError(
            400, "invalid_query", f"{name} must be between {low} and {high}.", field=name
        )
    return value


def query_limit() -> int:
    """The page size (``limit``), 1 to :data:`MAX_LIMIT`."""
    value = query_int("limit", default=DEFAULT_LIMIT, low=1, high=MAX_LIMIT)
    assert value is not None
    return value


def query_choice(name: str, choices: frozenset[str]) -> str | None:
    """A query parameter that must be one of ``choices``, or None when absent."""
    raw = request.args.get(name)
    if raw is None:
        return None
    if raw not in choices:
        allowed = ", ".join(sorted(choices))
        raise ApiError(400, "invalid_query", f"{name} must be one of: {allowed}.", field=name)
    return raw


def query_time(name: str) -> datetime | None:
    """An ISO 8601 timestamp query parameter (UTC when it names no zone), or None."""
    raw = request.args.get(name)
    if raw is None:
        return None
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        raise ApiError(
            400, "invalid_query", f"{name} must be an ISO 8601 date-time.", field=name
        ) from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise ApiError(400, "invalid_query", f"{name} is out of range.", field=name) from None
