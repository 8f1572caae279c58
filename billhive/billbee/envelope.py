"""Billbee's response envelope (``ApiResult`` / ``ApiPagedResult``) as plain data.

Most operations answer ``{"Data": ..., "ErrorCode": 0, "ErrorMessage": ..., "Paging":
{...}}``; a few (webhooks, enums, search in older SDK fixtures) answer the bare model.
:func:`parse_envelope` reads both into one :class:`BillbeeResponse`, so callers never look
at Billbee's capitalised keys themselves.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

ENVELOPE_KEYS = frozenset({"Data", "ErrorCode", "ErrorMessage", "ErrorDescription", "Paging"})


@dataclass(frozen=True)
class Paging:
    """Where a paged answer stands: ``page`` counts from 1."""

    page: int
    page_size: int
    total_pages: int
    total_rows: int

    @property
    def has_next(self) -> bool:
        """True when a page after this one exists."""
        return self.page < self.total_pages


@dataclass(frozen=True)
class BillbeeResponse:
    """One parsed answer: the payload, its paging and Billbee's error fields.

    ``raw`` is the decoded JSON body as received (the envelope dict, or the bare model for
    operations that send none); ``data`` is ``raw["Data"]`` for enveloped answers.
    """

    status_code: int
    data: Any
    paging: Paging | None = None
    error_code: int = 0
    error_message: str = ""
    error_description: Any = None
    raw: Any = None

    @property
    def ok(self) -> bool:
        """Billbee's own success rule: ErrorCode 0 and no ErrorMessage."""
        return self.error_code == 0 and not self.error_message


def _int(value: Any, default: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def parse_paging(value: Any) -> Paging | None:
    """The ``Paging`` object of an envelope, or None when absent or not an object."""
    if not isinstance(value, Mapping):
        return None
    return Paging(
        page=_int(value.get("Page"), 1),
        page_size=_int(value.get("PageSize"), 0),
        total_pages=_int(value.get("TotalPages"), 0),
        total_rows=_int(value.get("TotalRows"), 0),
    )


def is_envelope(body: Any) -> bool:
    """True when ``body`` looks like an ApiResult (it has ErrorCode or Data at the top)."""
    return isinstance(body, Mapping) and ("ErrorCode" in body or "Data" in body)


def parse_envelope(body: Any, status_code: int = 200) -> BillbeeResponse:
    """Read a decoded JSON body into a BillbeeResponse (never raises on odd shapes).

    A missing ErrorCode counts as 0 and a null ErrorMessage as empty, because the spec
    cannot say nullable and Billbee omits absent values.
    """
    if not is_envelope(body):
        return BillbeeResponse(status_code=status_code, data=body, raw=body)
    message = body.get("ErrorMessage")
    return BillbeeResponse(
        status_code=status_code,
        data=body.get("Data"),
        paging=parse_paging(body.get("Paging")),
        error_code=_int(body.get("ErrorCode"), 0),
        error_message="" if message is None else str(message),
        error_description=body.get("ErrorDescription"),
        raw=body,
    )
