"""The `billhive` command line: database and settings commands."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from billhive.cli import main


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("BILLHIVE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("BILLHIVE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    return CliRunner()


def test_db_upgrade_creates_the_schema_and_current_reports_the_head(runner: CliRunner) -> None:
    before = runner.invoke(main, ["db", "current"])
    assert before.exit_code == 0 and "(not migrated)" in before.output
    upgraded = runner.invoke(main, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    after = runner.invoke(main, ["db", "current"])
    assert after.exit_code == 0
    assert "(not migrated)" not in after.output and after.output.strip()


def test_config_show_masks_secrets(runner: CliRunner, tmp_path: Path) -> None:
    assert runner.invoke(main, ["config", "init-dev", "--instance", str(tmp_path)]).exit_code == 0
    secret = next(
        line.split("=", 1)[1]
        for line in (tmp_path / "dev-secrets.env").read_text().splitlines()
        if line.startswith("BILLHIVE_SECRET_KEY=")
    )
    result = runner.invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "BILLHIVE_SECRET_KEY=**********" in result.output
    assert secret not in result.output


def test_config_show_masks_the_passwords_in_database_and_redis_urls(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLHIVE_DATABASE_URL", "postgresql+psycopg://billhive:pg-Pass-91@db/bh")
    monkeypatch.setenv("BILLHIVE_REDIS_URL", "redis://:redis-Pass-91@redis:6379/0")
    result = runner.invoke(main, ["config", "show"])
    assert result.exit_code == 0, result.output
    assert "pg-Pass-91" not in result.output
    assert "redis-Pass-91" not in result.output
    assert "BILLHIVE_DATABASE_URL=postgresql+psycopg://billhive:***@db/bh" in result.output
    assert "BILLHIVE_REDIS_URL=redis://:***@redis:6379/0" in result.output


def test_production_without_secrets_stops_with_the_variable_names(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLHIVE_ENV", "production")
    monkeypatch.delenv("BILLHIVE_SECRET_KEY", raising=False)
    result = runner.invoke(main, ["db", "current"])
    assert result.exit_code != 0
    assert "BILLHIVE_SECRET_KEY" in result.output
    assert "Traceback" not in result.output


def test_version_prints_the_package_version(runner: CliRunner) -> None:
    from billhive import __version__

    result = runner.invoke(main, ["--version"])
    assert result.exit_code == 0 and __version__ in result.output
