"""One context for every sub-command: settings, logging, database and Redis, made once."""

import logging
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from billhive.cli import main
from billhive.clicontext import CliContext, pass_cli


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("BILLHIVE_INSTANCE_PATH", str(tmp_path))
    monkeypatch.setenv("BILLHIVE_DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    runner = CliRunner()
    # Development secrets (vault keys) in the instance folder, as `billhive dev` makes them.
    assert runner.invoke(main, ["config", "init-dev", "--instance", str(tmp_path)]).exit_code == 0
    return runner


@pytest.mark.parametrize("command", [["tenants", "list"], ["tokens", "list"], ["vault", "status"]])
def test_every_sub_command_configures_logging_from_the_settings(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch, command: list[str]
) -> None:
    monkeypatch.setenv("BILLHIVE_LOG_LEVEL", "ERROR")
    root = logging.getLogger()
    before = root.level, list(root.handlers)
    try:
        assert runner.invoke(main, ["db", "upgrade"]).exit_code == 0
        root.setLevel(logging.DEBUG)
        result = runner.invoke(main, command)
        assert result.exit_code == 0, result.output
        assert root.level == logging.ERROR
    finally:
        root.setLevel(before[0])
        root.handlers[:] = before[1]


def test_a_bad_setting_ends_a_sub_command_with_the_setting_named(
    runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLHIVE_LOG_LEVEL", "LOUD")
    result = runner.invoke(main, ["tokens", "list"])
    assert result.exit_code == 1
    assert "LOG_LEVEL" in result.output.upper()
    assert "Traceback" not in result.output


def test_the_database_is_made_once_per_command_and_closed_at_its_end(
    runner: CliRunner,
) -> None:
    seen: list[CliContext] = []

    @click.command()
    @pass_cli
    def probe(cli: CliContext) -> None:
        assert cli.database is cli.database
        seen.append(cli)

    result = runner.invoke(probe, [])
    assert result.exit_code == 0, result.output
    assert seen and seen[0]._database is None  # disposed when the command ended
