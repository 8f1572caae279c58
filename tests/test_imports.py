"""Importing billhive has no side effects: no connections, no app objects, no env reads."""

import pkgutil
import subprocess
import sys

import billhive

PROBE = r"""
import importlib, os, pkgutil, socket, sys
import billhive

def refuse(*args, **kwargs):
    raise AssertionError("network connection at import time")

socket.socket.connect = refuse
socket.create_connection = refuse
reads = []
class Watched(dict):
    def __getitem__(self, key):
        if key.startswith("BILLHIVE_"):
            reads.append(key)
        return super().__getitem__(key)
    def get(self, key, default=None):
        if key.startswith("BILLHIVE_"):
            reads.append(key)
        return super().get(key, default)
os.environ = Watched(os.environ)
os.getenv = os.environ.get
for module in sys.argv[1:]:
    importlib.import_module(module)
assert not reads, f"environment read at import time: {reads}"
print("imported", len(sys.argv) - 1)
"""


def _all_modules() -> list[str]:
    names = ["billhive"]
    for info in pkgutil.walk_packages(billhive.__path__, "billhive."):
        names.append(info.name)
    return names


def test_every_billhive_module_imports_without_connecting_or_reading_env() -> None:
    modules = _all_modules()
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == f"imported {len(modules)}"


def test_no_top_level_platform_package_shadows_the_standard_library() -> None:
    import platform

    assert hasattr(platform, "python_implementation")
