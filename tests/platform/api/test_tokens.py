"""API tokens: shown once, stored hashed, found by public id, scoped, revocable."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.orm import Session

from billhive.cli import main
from billhive.config import Settings
from billhive.platform.api.tokens import (
    TokenError,
    authenticate,
    create_token,
    hash_token,
    public_id_of,
    revoke_token,
)
from billhive.tenants.models import Tenant
from billhive.tokens.models import ApiToken


def test_a_new_token_is_stored_only_as_its_sha256(session: Session) -> None:
    new = create_token(session, "warehouse")
    row = session.scalars(select(ApiToken)).one()
    assert row.secret_hash == hash_token(new.plaintext)
    assert new.plaintext not in repr(row)
    assert all(new.plaintext not in str(v) for v in vars(row).values())


def test_a_token_names_its_public_id(session: Session) -> None:
    new = create_token(session, "erp")
    assert public_id_of(new.plaintext) == new.token.public_id
    assert new.plaintext.startswith(f"bh_{new.token.public_id}_")


def test_authenticate_accepts_the_token_and_returns_its_scope(session: Session) -> None:
    new = create_token(session, "erp", read_only=True)
    scope = authenticate(session, new.plaintext)
    assert scope is not None
    assert scope.token_id == new.token.id
    assert scope.read_only is True
    assert scope.tenant_ids is None


def test_authenticate_refuses_a_token_with_a_changed_secret(session: Session) -> None:
    new = create_token(session, "erp")
    forged = new.plaintext[:-1] + ("A" if new.plaintext[-1] != "A" else "B")
    assert authenticate(session, forged) is None


@pytest.mark.parametrize("garbage", ["", "bh_", "Bearer x", "bh_zz_" + "a" * 43, "x" * 5000])
def test_authenticate_refuses_malformed_tokens(session: Session, garbage: str) -> None:
    create_token(session, "erp")
    assert authenticate(session, garbage) is None


def test_a_revoked_token_no_longer_authenticates(session: Session) -> None:
    new = create_token(session, "erp")
    revoke_token(session, new.token.public_id)
    assert authenticate(session, new.plaintext) is None


def test_a_scoped_token_knows_its_tenants(
    session: Session, make_tenant: Callable[..., Tenant]
) -> None:
    a, b = make_tenant(), make_tenant()
    new = create_token(session, "erp", tenant_ids=[a.id])
    scope = authenticate(session, new.plaintext)
    assert scope is not None
    assert scope.allows(a.id) and not scope.allows(b.id)


def test_a_token_for_a_missing_tenant_is_refused(session: Session) -> None:
    with pytest.raises(TokenError, match="no tenant with id 999"):
        create_token(session, "erp", tenant_ids=[999])


def test_a_token_needs_a_name(session: Session) -> None:
    with pytest.raises(TokenError, match="name"):
        create_token(session, "   ")


def _cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, *args: str) -> Any:
    for name, value in settings.model_dump().items():
        if value is not None:
            raw = value.get_secret_value() if hasattr(value, "get_secret_value") else value
            monkeypatch.setenv(f"BILLHIVE_{name.upper()}", str(raw))
    return CliRunner().invoke(main, list(args))


def test_cli_creates_lists_and_revokes_a_token(
    settings: Settings,
    session: Session,
    monkeypatch: pytest.MonkeyPatch,
    make_tenant: Callable[..., Tenant],
) -> None:
    tenant = make_tenant()
    created = _cli(
        settings, monkeypatch, "tokens", "create", "--name", "wms", "--tenant", str(tenant.id)
    )
    assert created.exit_code == 0, created.output
    plaintext = created.stdout.strip().splitlines()[0]
    assert authenticate(session, plaintext) is not None

    listed = _cli(settings, monkeypatch, "tokens", "list")
    assert listed.exit_code == 0, listed.output
    assert "wms" in listed.stdout and f"tenants {tenant.id}" in listed.stdout
    assert plaintext not in listed.output

    public_id = public_id_of(plaintext)
    assert public_id is not None
    revoked = _cli(settings, monkeypatch, "tokens", "revoke", public_id)
    assert revoked.exit_code == 0, revoked.output
    session.expire_all()
    assert authenticate(session, plaintext) is None


def test_cli_revoke_of_an_unknown_token_names_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, db: Any
) -> None:
    result = _cli(settings, monkeypatch, "tokens", "revoke", "nosuchtoken")
    assert result.exit_code != 0
    assert "no token 'nosuchtoken'" in result.output
