"""schemathesis runs the API from its own OpenAPI document against a live server."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session
from support.app import override_settings

from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers.models import Call, CallStatus

pytestmark = pytest.mark.slow  # skipped by `make test-fast`

CLI = Path(sys.executable).with_name("schemathesis")
#: Checks: no 5xx, only documented statuses, content types and headers, every body valid
#: against the document, and invalid input (per the document) refused with a 4xx.
CHECKS = ",".join(
    [
        "not_a_server_error",
        "status_code_conformance",
        "content_type_conformance",
        "response_headers_conformance",
        "response_schema_conformance",
        "negative_data_rejection",
    ]
)


@pytest.fixture
def seeded(make_tenant: Callable[..., Tenant], session: Session) -> None:
    """Tenants 1.. and a few calls, so generated ids sometimes hit real rows."""
    tenants = [make_tenant(), make_tenant(TenantStatus.PAUSED), make_tenant(TenantStatus.DELETED)]
    for status in (CallStatus.QUEUED, CallStatus.SUCCEEDED, CallStatus.FAILED):
        session.add(Call(tenant_id=tenants[0].id, operation="orders.list", status=status))
    session.commit()


@pytest.mark.skipif(not CLI.exists() and not shutil.which("schemathesis"), reason="no schemathesis")
def test_schemathesis_finds_no_server_error_and_no_answer_off_the_document(
    app: Any,
    live_server_factory: Callable[[Any], Any],
    token: str,
    seeded: None,
    tmp_path: Path,
) -> None:
    override_settings(app, api_rate_limit="100000 per second")
    server = live_server_factory(app)
    result = subprocess.run(
        [
            str(CLI if CLI.exists() else shutil.which("schemathesis")),
            "run",
            f"{server.url}/api/v1/openapi.json",
            "--header",
            f"Authorization: Bearer {token}",
            "--checks",
            CHECKS,
            "--max-examples",
            "40",
            "--seed",
            "20261128",
            "--request-timeout",
            "20",
            "--no-color",
        ],
        capture_output=True,
        text=True,
        timeout=540,
        cwd=tmp_path,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-8000:]
    assert token not in output
