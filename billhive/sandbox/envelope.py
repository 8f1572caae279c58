"""Billbee's response envelope and error codes, as the sandbox sends them.

Successful calls answer ``{"ErrorMessage": null, "ErrorCode": 0, "Data": ...}`` (paged
lists add ``Paging``), like the PHP SDK fixtures. ``ErrorDescription`` is left out: the
spec types it as an integer enum while the SDKs treat it as text, so the sandbox sends
neither reading (null counts as absent). Some answers carry no envelope (a bare model, or
an empty body: :func:`empty`); docs/sandbox.md lists which and why.
"""

from __future__ import annotations

import math
from enum import IntEnum
from typing import Any

from flask import Response, jsonify


class ErrorCode(IntEnum):
    """Billbee's ``ErrorCode`` values (names from the .NET SDK)."""

    NO_ERROR = 0
    API_NOT_ACTIVATED = 1
    ORDER_NOT_FOUND = 2
    INVOICE_NOT_CREATED = 3
    CANT_CREATE_INVOICE = 4
    ORDER_CANCELED = 5
    ORDER_DELETED = 6
    ORDER_NOT_PAID = 7
    INTERNAL_ERROR = 8
    ORDER_EXISTS = 9
    WRONG_SHOP_ID = 10
    INVALID_DATA = 11
    NO_PAID_ACCOUNT = 16
    API_SERVICE_NOT_BOOKED = 17
    CANT_CREATE_DELIVERY_NOTE = 18


class SandboxError(Exception):
    """Raised by handlers; the app turns it into an envelope with the given status."""

    def __init__(self, status: int, code: ErrorCode, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def invalid(message: str) -> SandboxError:
    """A 400 answer with ``ErrorCode`` InvalidData."""
    return SandboxError(400, ErrorCode.INVALID_DATA, message)


def not_found(what: str) -> SandboxError:
    """A 404 answer (orders use ``OrderNotFound``, everything else ``InvalidData``)."""
    code = ErrorCode.ORDER_NOT_FOUND if what.startswith("Order") else ErrorCode.INVALID_DATA
    return SandboxError(404, code, f"{what} not found.")


def body(
    data: Any, *, code: ErrorCode = ErrorCode.NO_ERROR, message: str | None = None
) -> dict[str, Any]:
    """The envelope dict (also used inside ``updatestockmultiple``'s array)."""
    return {"ErrorMessage": message, "ErrorCode": int(code), "Data": data}


def empty() -> Response:
    """200 with an empty body: what Billbee answers to the writes whose success the PHP SDK
    reads as "nothing came back" (``return $res === null`` after PUT orderstate, POST
    shipment, PUT/DELETE webhooks; ``$res === ''`` after send-message)."""
    return Response(b"", status=200)


def ok(data: Any, status: int = 200) -> Response:
    """A successful envelope."""
    response = jsonify(body(data))
    response.status_code = status
    return response


def failure(status: int, code: ErrorCode, message: str) -> Response:
    """An error envelope with HTTP ``status``."""
    response = jsonify(body(None, code=code, message=message))
    response.status_code = status
    return response


def paged(rows: list[Any], page: int, page_size: int) -> Response:
    """One page of ``rows`` with Billbee's ``Paging`` block."""
    total = len(rows)
    start = (page - 1) * page_size
    payload = body(rows[start : start + page_size])
    payload["Paging"] = {
        "Page": page,
        "PageSize": page_size,
        "TotalPages": math.ceil(total / page_size),
        "TotalRows": total,
    }
    return jsonify(payload)
