"""What the hostile-input suite shares: the platform under attack, its routes, the checks.

The routes come from the app's own url_map, so a new route is walked without anyone
listing it here.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from werkzeug.routing import Rule

#: Methods every route answers by itself (Flask adds them); not walked.
IMPLICIT_METHODS = frozenset({"HEAD", "OPTIONS"})
#: Endpoint prefixes that need a logged-in admin, an API token or the metrics token.
PROTECTED_PREFIXES = ("admin.", "api.", "metrics.")
#: Admin endpoints open to visitors (the login steps).
PUBLIC_ADMIN_ENDPOINTS = frozenset({"admin.login", "admin.login_code"})
_TRACEBACK = "Traceback (most recent call last)"
#: The CSRF token field of a rendered form.
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def csrf_of(client: Any, path: str) -> str:
    """The CSRF token of a form page for ``client``'s session."""
    found = CSRF_FIELD.search(client.get(path).get_data(as_text=True))
    assert found, path
    return found.group(1)


@dataclass(frozen=True)
class Route:
    """One method of one url_map rule."""

    rule: Rule
    method: str

    @property
    def endpoint(self) -> str:
        """The Flask endpoint."""
        return str(self.rule.endpoint)

    @property
    def protected(self) -> bool:
        """True when nobody without credentials may get a 2xx from it."""
        return self.endpoint.startswith(PROTECTED_PREFIXES) and (
            self.endpoint not in PUBLIC_ADMIN_ENDPOINTS
        )

    @property
    def is_api(self) -> bool:
        """True for the token-authenticated JSON API (``/api/v1``)."""
        return self.endpoint.startswith("api.")

    @property
    def is_webhook(self) -> bool:
        """True for Billbee's webhook receiver: signed per tenant (HMAC), not by a cookie."""
        return self.endpoint.startswith("feedhooks.")

    def url(self, values: dict[str, str]) -> str:
        """The rule's path with each argument replaced by ``values[name]`` (raw text, so
        hostile values reach the router as they are)."""
        path = str(self.rule.rule)
        for name in self.rule.arguments:
            value = values[name]
            path = re.sub(rf"<(?:[^:<>]+:)?{name}>", lambda _match, v=value: v, path)
        return path

    def __str__(self) -> str:
        return f"{self.method} {self.rule.rule}"


def routes(app: Flask) -> list[Route]:
    """Every (rule, method) of ``app``, in url_map order."""
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - IMPLICIT_METHODS):
            found.append(Route(rule, method))
    return found


def argument_kinds(route: Route) -> dict[str, str]:
    """Each path argument of ``route`` and its converter (``int``, ``path``, ``default``)."""
    kinds = {}
    for name, converter in route.rule._converters.items():
        kinds[name] = {"IntegerConverter": "int", "PathConverter": "path"}.get(
            type(converter).__name__, "default"
        )
    return kinds


@dataclass
class Target:
    """The platform under attack and what it must never give away."""

    app: Flask
    ids: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def value(self, route: Route, name: str) -> str:
        """The seeded value of argument ``name`` of ``route`` (``"1"`` if none is seeded)."""
        return self.ids.get(f"{route.endpoint}:{name}", self.ids.get(name, "1"))

    def url(self, route: Route, **overrides: str) -> str:
        """``route`` filled with the seeded values (or ``overrides``)."""
        values = {n: self.value(route, n) for n in route.rule.arguments}
        return route.url({**values, **overrides})


@dataclass
class Findings:
    """What went wrong across a walk, reported all at once."""

    problems: list[str] = field(default_factory=list)

    def check(self, what: str, response: Any, secrets: list[str], *, refused: bool) -> None:
        """Record a 5xx, a leaked secret or traceback, and (``refused``) a 2xx."""
        status = response.status_code
        if status >= 500:
            self.problems.append(f"{what}: {status}")
        if refused and 200 <= status < 300:
            self.problems.append(f"{what}: answered {status} without valid credentials")
        leaked = leaks(response, secrets)
        if leaked:
            self.problems.append(f"{what}: leaks {leaked}")

    def __iter__(self) -> Iterator[str]:
        return iter(self.problems)


def _forms(secret: str) -> set[str]:
    raw = secret.encode()
    return {secret, base64.b64encode(raw).decode(), raw.hex()}


def leaks(response: Any, secrets: list[str]) -> list[str]:
    """Which of ``secrets`` (plain, base64 or hex) or a traceback are in ``response``."""
    text = response.get_data(as_text=True) + "\n" + str(response.headers)
    found = [s[:6] + "..." for s in secrets if any(form in text for form in _forms(s))]
    if _TRACEBACK in text:
        found.append("a traceback")
    return found
