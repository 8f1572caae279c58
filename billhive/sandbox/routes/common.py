"""What a handler receives (:class:`Call`) and the parsing helpers they share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from flask import Response
from werkzeug.datastructures import MultiDict

from billhive.sandbox.accounts import Account
from billhive.sandbox.envelope import invalid
from billhive.sandbox.state import JSON, AccountState, parse_date
from billhive.sandbox.usage import UsageLedger

MAX_PAGE_SIZE = 250
DEFAULT_PAGE_SIZE = 50


@dataclass
class Call:
    """One authenticated, admitted call: the account, its state and the request's inputs."""

    account: Account
    state: AccountState
    path: dict[str, str]
    query: MultiDict[str, str]
    now: datetime
    read_json: Callable[[], Any]
    max_stock_batch: int
    bulk_caps: Mapping[str, int] = field(default_factory=dict)
    usage: UsageLedger = field(default_factory=UsageLedger)
    #: The fingerprint of the caller's API key (never the key).
    key_label: str = ""
    #: Told of every order state change (the change log, webhook delivery).
    on_state_change: Callable[[JSON], None] = field(default=lambda _order: None)
    #: ASP.NET WebHooks' echo check of a new webhook URL (True: passed or not asked).
    echo_check: Callable[[str], bool] = field(default=lambda _uri: True)

    def body(self) -> Any:
        """The JSON body, or InvalidData when it is missing or not JSON."""
        data = self.read_json()
        if data is None:
            raise invalid("The request body must be JSON.")
        return data

    def body_object(self) -> JSON:
        """The JSON body, which must be an object."""
        data = self.body()
        if not isinstance(data, dict):
            raise invalid("The request body must be a JSON object.")
        return data

    def path_int(self, name: str) -> int:
        """A numeric path parameter."""
        try:
            return int(self.path[name])
        except ValueError:
            raise invalid(f"{name} must be a number, not {self.path[name]!r}.") from None

    def query_int(self, name: str) -> int | None:
        """A numeric query parameter, if given."""
        value = self.query.get(name)
        if value in (None, ""):
            return None
        try:
            return int(value)
        except ValueError:
            raise invalid(f"{name} must be a number, not {value!r}.") from None

    def query_date(self, name: str) -> datetime | None:
        """A date query parameter, if given."""
        value = self.query.get(name)
        if value in (None, ""):
            return None
        try:
            return parse_date(value)
        except ValueError:
            raise invalid(f"{name} must be an ISO date, not {value!r}.") from None

    def query_list(self, name: str) -> list[str]:
        """An array parameter, sent as ``name[0]=a&name[1]=b`` (the SDKs), ``name=a&name=b``
        (the spec) or ``name[]=a`` (the query reached the handler normalized)."""
        return [v for v in self.query.getlist(name) if v != ""]

    def query_ints(self, name: str) -> set[int]:
        """A numeric array parameter (every form :meth:`query_list` reads)."""
        values = set()
        for value in self.query_list(name):
            try:
                values.add(int(value))
            except ValueError:
                raise invalid(f"{name} must hold numbers, not {value!r}.") from None
        return values

    def query_bool(self, name: str) -> bool:
        """A boolean query parameter: ``true``/``True`` (the .NET SDK sends ``True``) or
        ``1``; ``false``/``False``/``0`` or absent are false; anything else is refused."""
        value = str(self.query.get(name, "")).lower()
        if value not in ("", "true", "1", "false", "0"):
            raise invalid(f"{name} must be true or false, not {self.query.get(name)!r}.")
        return value in ("true", "1")

    def bulk_items(self, operation: str, items: Any, what: str) -> list[Any]:
        """The non-empty list of a bulk operation's items, at most its cap (else 400)."""
        if not isinstance(items, list) or not items:
            raise invalid(f"{what} must be a non-empty JSON array.")
        cap = self.bulk_caps.get(operation)
        if cap is not None and len(items) > cap:
            raise invalid(f"Too many items in one call: {len(items)} (at most {cap}).")
        return items

    def paging(self) -> tuple[int, int]:
        """``page`` (from 1) and ``pageSize`` (1..250, default 50)."""
        page = self.query_int("page") or 1
        size = self.query_int("pageSize")
        size = DEFAULT_PAGE_SIZE if size is None else size
        if page < 1:
            raise invalid("page must be 1 or more.")
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise invalid(f"pageSize must be between 1 and {MAX_PAGE_SIZE}.")
        return page, size


Handler = Callable[[Call], Response]


def in_range(value: str | None, low: datetime | None, high: datetime | None) -> bool:
    """True when the ISO date ``value`` lies within [low, high] (open ends allowed)."""
    if low is None and high is None:
        return True
    if not value:
        return False
    moment = parse_date(value)
    return (low is None or moment >= low) and (high is None or moment <= high)
