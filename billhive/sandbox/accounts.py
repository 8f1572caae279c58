"""Sandbox merchant accounts, API keys and the seed file that declares them.

An account is one Billbee merchant: a main username (its login e-mail), optional employee
usernames, and one API password shared by all of them (as in Billbee). Usernames and
passwords never appear in ``repr()`` or in any sandbox response.
"""

from __future__ import annotations

import hmac
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The demo merchants ``billhive dev`` seeds (fake credentials of a local emulator).
DEMO_ACCOUNTS: tuple[dict[str, Any], ...] = (
    {
        "id": 1,
        "name": "Demo Shop",
        "username": "demo@billhive.test",
        "employees": ["lager.demo"],
        "password": "DemoShop#2025api",
        "invoice_creation_allowed": True,
    },
    {
        "id": 2,
        "name": "Second Demo Shop",
        "username": "second@billhive.test",
        "password": "SecondShop#2025api",
    },
)


class SeedError(ValueError):
    """The start-up data (seed file, accounts, state file) is malformed; the message says how."""


@dataclass
class Account:
    """One merchant account of the sandbox."""

    id: int
    username: str = field(repr=False)
    password: str = field(repr=False)
    employees: tuple[str, ...] = field(default=(), repr=False)
    name: str = ""
    api_enabled: bool = True
    invoice_creation_allowed: bool = False

    @property
    def usernames(self) -> tuple[str, ...]:
        """The main username followed by the employee usernames."""
        return (self.username, *self.employees)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, default_id: int = 0) -> Account:
        """Build an account from seed data, naming the first bad field.

        Without an ``id`` the account gets ``default_id``; 0 lets the registry pick the next
        free id.
        """
        where = f"account {data.get('id') or data.get('name') or '(no id, no name)'}"
        username = data.get("username")
        password = data.get("password")
        if not isinstance(username, str) or "@" not in username:
            raise SeedError(f"{where}: 'username' must be an e-mail address")
        if not isinstance(password, str) or not password or ":" in password:
            raise SeedError(f"{where}: 'password' must be a string without ':'")
        employees = data.get("employees", [])
        if not isinstance(employees, list) or not all(isinstance(e, str) and e for e in employees):
            raise SeedError(f"{where}: 'employees' must be a list of usernames")
        account_id = data.get("id", default_id)
        if not isinstance(account_id, int) or isinstance(account_id, bool) or account_id < 0:
            raise SeedError(f"{where}: 'id' must be a positive integer")
        for flag in ("api_enabled", "invoice_creation_allowed"):
            if not isinstance(data.get(flag, False), bool):
                raise SeedError(f"{where}: '{flag}' must be true or false")
        return cls(
            id=account_id,
            username=username,
            password=password,
            employees=tuple(employees),
            name=str(data.get("name") or f"Shop {account_id}"),
            api_enabled=bool(data.get("api_enabled", True)),
            invoice_creation_allowed=bool(data.get("invoice_creation_allowed", False)),
        )

    def public(self) -> dict[str, Any]:
        """What the control API may show: no username, no password."""
        return {
            "id": self.id,
            "name": self.name,
            "employees": len(self.employees),
            "api_enabled": self.api_enabled,
            "invoice_creation_allowed": self.invoice_creation_allowed,
        }


def demo_accounts() -> list[Account]:
    """The demo merchants (credentials included) that ``billhive dev`` seeds and prints."""
    return [Account.from_dict(d, default_id=d["id"]) for d in DEMO_ACCOUNTS]


def coerce_accounts(items: Iterable[Account | Mapping[str, Any]]) -> list[Account]:
    """Accept accounts or their seed dicts (dicts without an id get the next free one)."""
    return [item if isinstance(item, Account) else Account.from_dict(item) for item in items]


def load_seed_file(path: str | Path) -> tuple[list[str], list[Account]]:
    """Read ``{"api_keys": [...], "accounts": [...]}`` (see docs/sandbox.md)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise SeedError(f"cannot read sandbox seed file {path}: {exc.strerror}") from exc
    except json.JSONDecodeError as exc:
        raise SeedError(
            f"sandbox seed file {path} is not JSON: {exc.msg} (line {exc.lineno})"
        ) from exc
    if not isinstance(data, dict):
        raise SeedError(f"sandbox seed file {path} must hold a JSON object")
    keys = data.get("api_keys", [])
    if not isinstance(keys, list) or not all(isinstance(k, str) and k for k in keys):
        raise SeedError(f"sandbox seed file {path}: 'api_keys' must be a list of strings")
    accounts = data.get("accounts", [])
    if not isinstance(accounts, list) or not all(isinstance(a, dict) for a in accounts):
        raise SeedError(f"sandbox seed file {path}: 'accounts' must be a list of objects")
    return keys, coerce_accounts(accounts)


class AccountRegistry:
    """Thread-safe lookup of accounts by username and id; known API keys."""

    def __init__(self, api_keys: Iterable[str] = (), accounts: Iterable[Account] = ()) -> None:
        self._lock = threading.Lock()
        self._keys: set[str] = set(api_keys)
        self._by_id: dict[int, Account] = {}
        self._by_username: dict[str, Account] = {}
        for account in accounts:
            self.add(account)

    def add_key(self, key: str) -> None:
        """Accept one more API key."""
        with self._lock:
            self._keys.add(key)

    def knows_key(self, key: str) -> bool:
        """True when ``key`` is a configured API key."""
        return key in self._keys

    def add(self, account: Account) -> None:
        """Register ``account``; ids and usernames must be unique (case-insensitive)."""
        with self._lock:
            if account.id == 0:
                account.id = 1 + max(self._by_id, default=0)
            if account.id in self._by_id:
                raise SeedError(f"account id {account.id} is used twice")
            names = [u.casefold() for u in account.usernames]
            if any(n in self._by_username for n in names) or len(set(names)) != len(names):
                raise SeedError(f"account #{account.id}: a username is used twice")
            self._by_id[account.id] = account
            for name in names:
                self._by_username[name] = account

    def get(self, account_id: int) -> Account | None:
        """The account with ``account_id``, if any."""
        return self._by_id.get(account_id)

    def all(self) -> list[Account]:
        """Every account, by id."""
        return [self._by_id[i] for i in sorted(self._by_id)]

    def authenticate(self, username: str, password: str) -> Account | None:
        """The account when ``username`` belongs to it and ``password`` is its API password."""
        account = self._by_username.get(username.casefold())
        if account is None:
            return None
        # Constant-time comparison: the sandbox should not teach timing-leaky habits.
        if not hmac.compare_digest(account.password.encode(), password.encode()):
            return None
        return account

    def set_password(self, account_id: int, password: str) -> None:
        """Change an account's API password (the merchant did it in Billbee's settings)."""
        if not password or ":" in password:
            raise SeedError("the new password must be non-empty and contain no ':'")
        with self._lock:
            account = self._by_id[account_id]
            account.password = password
