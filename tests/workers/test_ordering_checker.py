"""The ordering rule under real concurrency: benchmarks/ordering_checker.py, small."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "benchmarks" / "ordering_checker.py"

pytestmark = pytest.mark.slow  # skipped by `make test-fast`


def test_concurrent_workers_never_break_the_ordering_rule(redis_url: str) -> None:
    completed = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--ops",
            "4000",
            "--tenants",
            "25",
            "--workers",
            "6",
            "--redis-url",
            redis_url,
        ],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    result = json.loads(completed.stdout)
    assert result["ops"] == 4000
    assert result["writes_started_before_an_earlier_write_of_their_key_finished"] == 0
    assert result["reads_started_before_an_earlier_write_finished"] == 0
    assert result["calls_not_run_exactly_once"] == 0
    assert min(result["per_lane"].values()) > 1000  # every lane took part
