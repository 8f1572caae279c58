"""The delivery part sits below the web layer: loading it loads nothing of the platform."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import billhive.delivery
import billhive.tokens

for package in (billhive.delivery, billhive.tokens):
    for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
        importlib.import_module(info.name)
import billhive.workers.process as process
for module in process.JOB_MODULES:
    importlib.import_module(module)
loaded = sorted(m for m in sys.modules if m.startswith("billhive.platform"))
print(",".join(loaded) or "clean")
"""


def test_the_delivery_jobs_load_without_the_web_platform() -> None:
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], check=False, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == "clean"


def test_the_workers_name_no_job_module_of_the_platform() -> None:
    from billhive.workers.process import JOB_MODULES

    assert "billhive.delivery.send" in JOB_MODULES
    assert not [m for m in JOB_MODULES if m.startswith("billhive.platform")]
