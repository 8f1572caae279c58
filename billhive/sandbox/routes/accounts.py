"""The account-level operations newer than the 2023 description: shop accounts, their two
enums, and API usage (what Billbee bills the API key for)."""

from __future__ import annotations

import re
from datetime import datetime

from flask import Response, jsonify

from billhive.billbee.enums import ACCOUNT_SYNC_STATES, SHOP_ACCOUNT_TYPES
from billhive.sandbox.envelope import invalid, paged
from billhive.sandbox.records import SHOP_ID_BASE
from billhive.sandbox.routes.common import Call, Handler
from billhive.sandbox.routes.misc import bare_enum
from billhive.sandbox.state import JSON, iso, parse_date
from billhive.sandbox.usage import month_of

#: The shop account type the sandbox gives its accounts' shops (names are not published).
SANDBOX_SHOP_TYPE = 1
#: Billbee's help page names the month as ``Date`` like ``20251201``.
_COMPACT_DATE = re.compile(r"^(\d{4})(\d{2})(\d{2})$")


def list_shop_accounts(call: Call) -> Response:
    """GET /shopaccounts: the account's shops, as its orders name them (its own API shop
    first), each with the date of its newest order as the last sync."""
    page, size = call.paging()
    shops: dict[int, JSON] = {
        SHOP_ID_BASE + call.account.id: {
            "Id": SHOP_ID_BASE + call.account.id,
            "AccountType": SANDBOX_SHOP_TYPE,
            "Name": call.state.account_name,
            "LastSyncDate": None,
            "LastSyncState": 0,
        }
    }
    for order in call.state.orders.values():
        seller = order.get("Seller") or {}
        shop_id = seller.get("BillbeeShopId")
        if not isinstance(shop_id, int):
            continue
        shop = shops.setdefault(
            shop_id,
            {
                "Id": shop_id,
                "AccountType": SANDBOX_SHOP_TYPE,
                "Name": str(seller.get("BillbeeShopName") or f"Shop {shop_id}"),
                "LastSyncDate": None,
                "LastSyncState": 0,
            },
        )
        if shop["LastSyncDate"] is None or order["CreatedAt"] > shop["LastSyncDate"]:
            shop["LastSyncDate"] = order["CreatedAt"]
    rows = [
        {**shop, "LastSyncDate": shop["LastSyncDate"] or iso(call.now)}
        for _, shop in sorted(shops.items())
    ]
    return paged(rows, page, size)


def shop_account_types(call: Call) -> Response:
    """GET /enums/shopaccounttype (ids of the 2024 description; names not published)."""
    return bare_enum(SHOP_ACCOUNT_TYPES)


def account_sync_states(call: Call) -> Response:
    """GET /enums/accountsyncstate (ids of the 2024 description; names not published)."""
    return bare_enum(ACCOUNT_SYNC_STATES)


def _month(call: Call) -> str:
    """The month asked for: ``request.date`` (the swagger's name; ASP.NET also binds the
    bare ``date`` of a complex parameter), ISO or ``yyyyMMdd``; default this month."""
    raw = call.query.get("request.date")
    if raw is None:
        raw = next((v for k, v in call.query.items() if k.casefold() == "date"), None)
    if raw in (None, ""):
        return month_of(call.now)
    text = str(raw).strip()
    compact = _COMPACT_DATE.match(text)
    try:
        if compact:
            moment = datetime(int(compact[1]), int(compact[2]), int(compact[3]))
        else:
            moment = parse_date(text)
    except ValueError:
        raise invalid(f"request.date must be a date, not {raw!r}.") from None
    return month_of(moment)


def usage_summary(call: Call) -> Response:
    """GET /apiusage: bare ``{"Summaries": [{"UserName", "Data": {"Count"}}]}``, the
    month's calls of each user of the account under the calling API key (this call
    included: it is billed too)."""
    rows = call.usage.summary(call.key_label, call.account.id, _month(call))
    return jsonify({"Summaries": rows})


def usage_detail(call: Call) -> Response:
    """GET /apiusage/detail: bare ``{"Details": [{"UserName", "Data": [{"Method",
    "Endpoint", "Count"}]}]}``."""
    rows = call.usage.detail(call.key_label, call.account.id, _month(call))
    return jsonify({"Details": rows})


def handlers() -> dict[str, Handler]:
    """The account-level operations this module implements."""
    return {
        "shop_accounts.list": list_shop_accounts,
        "enums.shop_account_types": shop_account_types,
        "enums.account_sync_states": account_sync_states,
        "api_usage.summary": usage_summary,
        "api_usage.detail": usage_detail,
    }
