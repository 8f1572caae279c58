"""The deployment files: docker-compose.yml, Dockerfile and .env.example stay valid and true."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from billhive.config import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parent.parent


def _compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return loaded


def _setting_names() -> list[str]:
    return [f"{ENV_PREFIX}{name.upper()}" for name in Settings.model_fields]


def test_compose_file_is_valid_for_docker_compose(tmp_path: Path) -> None:
    binary = shutil.which("docker-compose")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing in CI (.ci/run installs it)")
        pytest.skip("docker-compose not installed: apt-get install docker-compose to validate")
    shutil.copy(ROOT / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(ROOT / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        [binary, "config", "-q"],
        cwd=tmp_path,
        env={**os.environ, "POSTGRES_PASSWORD": "compose-check"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_compose_runs_every_part_of_the_platform() -> None:
    services = _compose()["services"]
    assert set(services) >= {"postgres", "redis", "migrate", "web", "worker", "scheduler"}
    assert services["migrate"]["command"] == ["billhive", "db", "upgrade"]
    for name in ("web", "worker", "scheduler"):
        assert services[name]["depends_on"]["migrate"] == {
            "condition": "service_completed_successfully"
        }


def test_compose_redis_persists_with_an_append_only_file_on_a_volume() -> None:
    redis = _compose()["services"]["redis"]
    assert "--appendonly" in redis["command"]
    assert redis["command"][redis["command"].index("--appendonly") + 1] == "yes"
    assert any(v.endswith(":/data") for v in redis["volumes"])
    assert "healthcheck" in redis


def test_compose_postgres_has_a_volume_and_a_healthcheck() -> None:
    postgres = _compose()["services"]["postgres"]
    assert any("/var/lib/postgresql/data" in v for v in postgres["volumes"])
    assert "healthcheck" in postgres


def test_compose_worker_can_be_scaled() -> None:
    worker = _compose()["services"]["worker"]
    assert "container_name" not in worker
    assert "ports" not in worker


def test_dockerfile_passes_hadolint() -> None:
    hadolint = shutil.which("hadolint") or str(Path(sys.executable).parent / "hadolint")
    result = subprocess.run(
        [hadolint, str(ROOT / "Dockerfile")], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_as_a_non_root_user_on_a_slim_base() -> None:
    text = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim\s*$", text, re.MULTILINE)
    users = re.findall(r"^USER (\S+)", text, re.MULTILINE)
    assert users and users[-1] not in {"root", "0"}
    # The final stage copies the virtualenv, never installs compilers.
    final_stage = text.rsplit("FROM ", 1)[1]
    assert "gcc" not in final_stage and "build-essential" not in final_stage


def test_env_example_lists_every_setting() -> None:
    text = (ROOT / ".env.example").read_text()
    missing = [name for name in _setting_names() if f"\n{name}=" not in text]
    assert missing == []


def _readme() -> str:
    return (ROOT / "README.md").read_text()


def test_readme_documents_every_setting() -> None:
    text = _readme()
    missing = [name for name in _setting_names() if f"`{name}`" not in text]
    assert missing == []


def test_the_readme_states_each_settings_default_as_the_code_has_it() -> None:
    rows = re.findall(r"^\| `(BILLHIVE_[A-Z_]+)` \| `([^`]*)` \|", _readme(), re.MULTILINE)
    wrong = []
    for name, stated in rows:
        default = Settings.model_fields[name[len(ENV_PREFIX) :].lower()].default
        shown = str(default).lower() if isinstance(default, bool) else str(default)
        if name != "BILLHIVE_INSTANCE_PATH" and shown != stated:
            wrong.append((name, stated, shown))
    assert len(rows) > 20
    assert wrong == []


def test_env_example_values_load_as_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.startswith(ENV_PREFIX) and "=" in line:
            name, _, value = line.partition("=")
            monkeypatch.setenv(name, value)
    settings = Settings()
    assert settings.env == "production" and settings.call_attempts_by_operation == {}
