"""Fixtures of the API tests: tenants, tokens and an authenticated client helper."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.api import bearer
from support.factories import add_tenant, add_token

from billhive.tenants.models import Tenant, TenantStatus
from billhive.tenants.vault import Vault


@pytest.fixture
def make_tenant(session: Session, vault: Vault) -> Callable[..., Tenant]:
    """Create a tenant row with a data key (its calls' payloads are sealed with it)."""

    def build(status: TenantStatus = TenantStatus.ACTIVE, name: str | None = None) -> Tenant:
        tenant = add_tenant(session, vault, display_name=name, status=status)
        session.commit()
        return tenant

    return build


@pytest.fixture
def make_token(session: Session) -> Callable[..., str]:
    """Create a token and return its plaintext."""

    def build(
        name: str = "test", *, read_only: bool = False, tenant_ids: Iterable[int] | None = None
    ) -> str:
        return add_token(session, name, read_only=read_only, tenant_ids=tenant_ids)

    return build


@pytest.fixture
def tenant(make_tenant: Callable[..., Tenant]) -> Tenant:
    """One active tenant."""
    return make_tenant()


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    """A read-write token for every tenant."""
    return make_token()


@pytest.fixture
def api(client: Any, token: str) -> Callable[..., Any]:
    """``api(method, path, **kwargs)``: a request with the default token."""

    def send(method: str, path: str, *, as_token: str | None = None, **kwargs: Any) -> Any:
        headers = {**bearer(as_token or token), **kwargs.pop("headers", {})}
        return client.open(path, method=method, headers=headers, **kwargs)

    return send
