"""The worker side's models work in a process that loads nothing of the web platform."""

from __future__ import annotations

import subprocess
import sys

from billhive.db import Database

SCRIPT = """
import sys
from billhive.db import Database
from billhive.tenants.models import Tenant, TenantStatus
from billhive.workers.models import Call

database = Database(sys.argv[1])
with database.session() as session:
    tenant = Tenant(display_name="Lone", status=TenantStatus.ACTIVE)
    session.add(tenant)
    session.flush()
    session.add(Call(tenant_id=tenant.id, operation="orders.list"))
database.dispose()
assert "billhive.tokens.models" not in sys.modules
assert not [m for m in sys.modules if m.startswith("billhive.platform")]
print("recorded")
"""


def test_a_call_is_recorded_by_a_process_without_the_api_package(
    database_url: str, db: Database
) -> None:
    # A stock `rq worker` imports only the job's module: a model that needs the API's
    # tables to flush would fail there (it did, with a foreign key to api_tokens).
    argv = [sys.executable, "-c", SCRIPT, database_url]
    done = subprocess.run(argv, check=False, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "recorded"
