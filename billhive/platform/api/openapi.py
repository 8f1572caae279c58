"""The OpenAPI 3.1 document of ``/api/v1``, built from the routes' descriptions below and
the pydantic models in :mod:`billhive.platform.api.schemas`.

tests/platform/api/test_openapi.py checks that every route of the app under ``/api/v1``
is described here and every path described here is a route, with the same methods.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic.json_schema import models_json_schema

from billhive import __version__
from billhive.delivery.signing import SIGNATURE_HEADER
from billhive.platform.api.errors import ERROR_CODES
from billhive.platform.api.parsing import DEFAULT_LIMIT, MAX_BIG_ID, MAX_ID, MAX_LIMIT
from billhive.platform.api.schemas import (
    BATCH_CALLS_MAX,
    REQUEST_MODELS,
    RESPONSE_MODELS,
    STOCK_ITEMS_MAX,
)
from billhive.tenants.models import TenantStatus
from billhive.workers.models import CallStatus

REF = "#/components/schemas/{model}"

_ERROR_TEXT = {
    400: "The request cannot be read (broken JSON, a malformed query value or header).",
    401: "No API token, or one that is not valid or was revoked.",
    403: "The token is read-only.",
    404: "Not found, or not within the token's tenants.",
    409: "Conflicts with the current state.",
    422: "A readable request that breaks a rule; `field` names the part at fault "
    "(`invoice_creation_not_allowed`: the tenant has not allowed invoice creation in Billbee).",
    429: "Rate limit of this token, or of failed authentications from this address, exceeded; "
    "or (`call_budget_exhausted`) the tenant's hard monthly call budget is used up.",
}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": REF.format(model=name)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _responses(ok: dict[int, tuple[str | None, str]], errors: tuple[int, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (schema, text) in ok.items():
        out[str(status)] = {"description": text} if schema is None else _json(_ref(schema), text)
    for status in (*errors, 401, 429):
        out[str(status)] = _json(_ref("ErrorOut"), _ERROR_TEXT[status])
    return out


def _path_id(name: str, maximum: int, text: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": text,
        "schema": {"type": "integer", "minimum": 0, "maximum": maximum},
    }


def _query(name: str, schema: dict[str, Any], text: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "description": text, "schema": schema}


_TENANT_ID = _path_id("tenant_id", MAX_ID, "The tenant's id.")
_CALL_ID = _path_id("call_id", MAX_BIG_ID, "The call's id.")
_LIMIT = _query(
    "limit",
    {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
    "Items per page.",
)
_IDEMPOTENCY = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Any unique string (a UUID): a retried POST with the same key answers with "
    "the calls of the first (200 and `Idempotent-Replayed: true`) instead of queueing again.",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}


def _after(
    maximum: int,
    description: str = "Only items with a larger id: pass the previous page's `next_after`.",
) -> dict[str, Any]:
    return _query("after", {"type": "integer", "minimum": 0, "maximum": maximum}, description)


#: Why the events' cursor is a sequence, not an id (docs/api.md, "Feed events").
_EVENTS_AFTER = (
    "Only events with a larger `sequence`: pass the previous page's `next_after`, or the "
    "last `sequence` seen. Gap-free: an event gets its sequence when the collector "
    "announces it (every second), after its transaction committed, and sequences become "
    "visible in order, so a cursor never passes an event; the newest events show up about "
    "a second after they were made."
)


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": _ref(name)}}}


def _paths() -> dict[str, Any]:
    tenant_statuses = [s.value for s in TenantStatus]
    call_statuses = [s.value for s in CallStatus]
    return {
        "/api/v1/openapi.json": {
            "get": {
                "operationId": "getOpenApiDocument",
                "summary": "This document (no token needed)",
                "tags": ["documentation"],
                "security": [],
                "responses": {
                    "200": _json({"type": "object"}, "The OpenAPI 3.1 document."),
                },
            }
        },
        "/api/v1/tenants": {
            "get": {
                "operationId": "listTenants",
                "summary": "List the tenants the token may reach",
                "tags": ["tenants"],
                "parameters": [
                    _LIMIT,
                    _after(MAX_ID),
                    _query(
                        "status", {"type": "string", "enum": tenant_statuses}, "Only this status."
                    ),
                ],
                "responses": _responses({200: ("TenantPage", "A page of tenants.")}, (400,)),
            }
        },
        "/api/v1/tenants/{tenant_id}": {
            "get": {
                "operationId": "getTenant",
                "summary": "Get one tenant (never a credential)",
                "tags": ["tenants"],
                "parameters": [_TENANT_ID],
                "responses": _responses({200: ("TenantOut", "The tenant.")}, (404,)),
            }
        },
        "/api/v1/tenants/{tenant_id}/feeds": {
            "put": {
                "operationId": "putTenantFeeds",
                "summary": "Switch the tenant's change feeds on or off",
                "description": "`on` and `off` name resources (`orders`, `shipments`, "
                "`stock`); feeds not named stay as they are. A feed switched on again goes on "
                "from its cursor, so changes made while it was off are told. The feeds are "
                "also shown in `GET /api/v1/tenants/{tenant_id}`; their events come through "
                "the callback and `GET /api/v1/events`.",
                "tags": ["events"],
                "parameters": [_TENANT_ID],
                "requestBody": _body("FeedsRequest"),
                "responses": _responses(
                    {200: ("TenantFeedsOut", "Every feed of the tenant, on or off.")},
                    (400, 403, 404, 409, 422),
                ),
            }
        },
        "/api/v1/tenants/{tenant_id}/reconnect-link": {
            "post": {
                "operationId": "createReconnectLink",
                "summary": "Create a signed link where the merchant enters a new API password",
                "tags": ["tenants"],
                "parameters": [_TENANT_ID],
                "responses": _responses(
                    {
                        201: (
                            "ReconnectLinkOut",
                            "The link, valid for a week and once; it revokes "
                            "the tenant's older reconnect links.",
                        )
                    },
                    (403, 404, 409),
                ),
            }
        },
        "/api/v1/tenants/{tenant_id}/leave-link": {
            "post": {
                "operationId": "createLeaveLink",
                "summary": "Create a signed link where the merchant confirms leaving",
                "description": "Leaving deletes the tenant's credentials, shreds its data key, "
                "erases its contact data and purges the payloads of its calls. The link is "
                "valid BILLHIVE_LEAVE_LINK_DAYS days and works once (after it, the tenant is "
                "gone).",
                "tags": ["tenants"],
                "parameters": [_TENANT_ID],
                "responses": _responses(
                    {201: ("LeaveLinkOut", "The link.")},
                    (403, 404, 409),
                ),
            }
        },
        "/api/v1/tenants/{tenant_id}/costs": {
            "get": {
                "operationId": "getTenantCosts",
                "summary": "The tenant's Billbee calls and share of the bill, its budget, and "
                "Billbee's own count",
                "description": "This month so far, last month and the forecast to month end; the "
                "share is the key's bill times the tenant's part of the key's calls. "
                "`reconciliation` is the latest daily reading of Billbee's `GET /apiusage`.",
                "tags": ["costs"],
                "parameters": [_TENANT_ID],
                "responses": _responses({200: ("TenantCostsOut", "The figures.")}, (404,)),
            }
        },
        "/api/v1/tenants/{tenant_id}/budget": {
            "put": {
                "operationId": "putTenantBudget",
                "summary": "Set or clear the tenant's monthly call budget",
                "description": "Soft (`hard: false`) warns only; hard refuses new calls of the "
                "tenant with 429 `call_budget_exhausted` once the month's calls reach it. "
                "Written to the audit log with the token as the actor.",
                "tags": ["costs"],
                "parameters": [_TENANT_ID],
                "requestBody": _body("BudgetRequest"),
                "responses": _responses(
                    {200: ("BudgetOut", "The budget and this month's use.")},
                    (400, 403, 404, 409, 422),
                ),
            }
        },
        "/api/v1/costs": {
            "get": {
                "operationId": "getKeyCosts",
                "summary": "What Billbee bills the API key: this month, last month, forecast",
                "tags": ["costs"],
                "responses": _responses({200: ("KeyCostsOut", "The figures.")}, ()),
            }
        },
        "/api/v1/tenants/{tenant_id}/calls": {
            "post": {
                "operationId": "enqueueCall",
                "summary": "Queue a Billbee operation for the tenant",
                "tags": ["calls"],
                "parameters": [_TENANT_ID, _IDEMPOTENCY],
                "requestBody": _body("EnqueueCallRequest"),
                "responses": _responses(
                    {
                        202: ("CallOut", "Queued."),
                        200: ("CallOut", "Replayed: the call of an earlier request with this key."),
                    },
                    (400, 403, 404, 409, 422),
                ),
            },
            "get": {
                "operationId": "listCalls",
                "summary": "List the tenant's calls",
                "tags": ["calls"],
                "parameters": [
                    _TENANT_ID,
                    _LIMIT,
                    _after(MAX_BIG_ID),
                    _query(
                        "status", {"type": "string", "enum": call_statuses}, "Only this status."
                    ),
                    _query(
                        "operation", {"type": "string"}, "Only this operation (a catalog name)."
                    ),
                    _query(
                        "since",
                        {"type": "string", "format": "date-time"},
                        "Only calls enqueued at or after this time.",
                    ),
                    _query(
                        "until",
                        {"type": "string", "format": "date-time"},
                        "Only calls enqueued before this time.",
                    ),
                ],
                "responses": _responses({200: ("CallPage", "A page of calls.")}, (400, 404)),
            },
        },
        "/api/v1/tenants/{tenant_id}/calls/batch": {
            "post": {
                "operationId": "enqueueCalls",
                "summary": f"Queue 1 to {BATCH_CALLS_MAX} operations in one request, in order",
                "description": "All or none: a bad call is named by its position "
                "(`calls.3.params.id`) and nothing is queued. The calls are recorded in one "
                "statement and start in this order.",
                "tags": ["calls"],
                "parameters": [_TENANT_ID, _IDEMPOTENCY],
                "requestBody": _body("EnqueueBatchRequest"),
                "responses": _responses(
                    {
                        202: ("BatchOut", "Queued: the calls in the order of the request."),
                        200: ("BatchOut", "Replayed: the calls of an earlier request."),
                    },
                    (400, 403, 404, 409, 422),
                ),
            }
        },
        "/api/v1/tenants/{tenant_id}/stock": {
            "post": {
                "operationId": "updateStock",
                "summary": f"Set stock levels (1 to {STOCK_ITEMS_MAX} items, one call each)",
                "tags": ["calls"],
                "parameters": [_TENANT_ID, _IDEMPOTENCY],
                "requestBody": _body("StockRequest"),
                "responses": _responses(
                    {
                        202: ("StockOut", "Queued: one handle per item."),
                        200: ("StockOut", "Replayed: the calls of an earlier request."),
                    },
                    (400, 403, 404, 409, 422),
                ),
            }
        },
        "/api/v1/calls/{call_id}": {
            "get": {
                "operationId": "getCall",
                "summary": "Get a call: status, attempts, timings, result or error",
                "tags": ["calls"],
                "parameters": [_CALL_ID],
                "responses": _responses({200: ("CallOut", "The call.")}, (404,)),
            }
        },
        "/api/v1/calls/{call_id}/cancel": {
            "post": {
                "operationId": "cancelCall",
                "summary": "Cancel a call that is still queued",
                "tags": ["calls"],
                "parameters": [_CALL_ID],
                "responses": _responses({200: ("CallOut", "Cancelled.")}, (403, 404, 409)),
            }
        },
        "/api/v1/callback": {
            "get": {
                "operationId": "getCallback",
                "summary": "Show the token's callback URL",
                "tags": ["callbacks"],
                "responses": _responses({200: ("CallbackOut", "The callback.")}, (404,)),
            },
            "put": {
                "operationId": "putCallback",
                "summary": "Register the callback URL (answers with a new signing secret, once)",
                "tags": ["callbacks"],
                "requestBody": _body("CallbackRequest"),
                "responses": _responses(
                    {200: ("CallbackOut", "Registered; keep `signing_secret`.")},
                    (400, 403, 422),
                ),
            },
            "delete": {
                "operationId": "deleteCallback",
                "summary": "Stop callbacks for this token",
                "tags": ["callbacks"],
                "responses": _responses({204: (None, "Removed.")}, (403,)),
            },
        },
        "/api/v1/callback/deliveries": {
            "get": {
                "operationId": "listDeliveries",
                "summary": "The token's callback delivery log",
                "tags": ["callbacks"],
                "parameters": [_LIMIT, _after(MAX_ID)],
                "responses": _responses({200: ("DeliveryPage", "A page of deliveries.")}, (400,)),
            }
        },
        "/api/v1/events": {
            "get": {
                "operationId": "listEvents",
                "summary": "Feed events of the token's tenants, oldest first (catch up, replay)",
                "tags": ["events"],
                "parameters": [
                    _LIMIT,
                    _after(MAX_BIG_ID, _EVENTS_AFTER),
                    _query(
                        "types",
                        {"type": "string"},
                        "Comma-separated event types: order.created, order.changed, "
                        "shipment.created, stock.changed.",
                    ),
                    _query(
                        "tenant_id",
                        {"type": "integer", "minimum": 1, "maximum": MAX_ID},
                        "Only this tenant's events.",
                    ),
                ],
                "responses": _responses({200: ("EventPage", "A page of events.")}, (400,)),
            }
        },
    }


_DESCRIPTION = f"""\
Drive billhive from your own systems: queue Billbee operations for the merchants
(tenants) connected to billhive, follow them, and be told when they finish.

**Authentication**: `Authorization: Bearer <token>` (tokens come from
`billhive tokens create`). A token may be limited to some tenants (others answer 404)
and to reading (writes answer 403). Requests are rate limited per token once the token
checked out, failed authentications per client address (429).

**Errors**: `{{"error": {{"code", "message", "field"}}}}`; codes:
{", ".join(f"`{code}` ({status})" for code, status in ERROR_CODES.items())}.

**Callbacks**: when a call queued with a token finishes, billhive POSTs
`{{"event": "call.finished", "delivery_id", "call"}}` to the token's callback URL with
`{SIGNATURE_HEADER}: t=<unix time>, v1=<hex HMAC-SHA256 of "<t>.<raw body>" under the
signing secret>`. Answer 2xx; anything else is retried with backoff for about a day.
A callback registered with `events` also receives feed events
(`order.created`, `order.changed`, `shipment.created`, `stock.changed`) of the tenants it
names (default: all the token reaches) as `{{"event", "delivery_id", "data"}}`, with the
stable event id in `Billhive-Event-Id`, in order per tenant and resource, at least once.
Callback URLs must reach a public address (https in production) unless the operator
allow-listed a private network; redirects are not followed.
"""


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per process)."""
    models = [(m, "validation") for m in REQUEST_MODELS]
    models += [(m, "serialization") for m in RESPONSE_MODELS]
    _, definitions = models_json_schema(models, ref_template=REF)  # type: ignore[arg-type]
    return {
        "openapi": "3.1.0",
        "info": {"title": "billhive API", "version": __version__, "description": _DESCRIPTION},
        "servers": [{"url": "/"}],
        "security": [{"bearer": []}],
        "tags": [
            {"name": "tenants", "description": "The merchants connected to billhive."},
            {"name": "calls", "description": "Billbee operations queued for a tenant."},
            {
                "name": "callbacks",
                "description": "Being told when a call finishes or a merchant's data changes.",
            },
            {"name": "events", "description": "Change feeds: what changed in each tenant."},
            {
                "name": "costs",
                "description": "What Billbee bills the API key, each tenant's share, budgets.",
            },
            {"name": "documentation", "description": "This document."},
        ],
        "paths": _paths(),
        "components": {
            "schemas": definitions["$defs"],
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
    }
