"""Settings: defaults, production checks, development secrets."""

from pathlib import Path

import pytest

from billhive.config import (
    DEV_SECRETS_FILE,
    ConfigError,
    Settings,
    ensure_dev_secrets,
    load_settings,
)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    import os

    for name in list(os.environ):
        if name.startswith("BILLHIVE_"):
            monkeypatch.delenv(name)
    return monkeypatch


def test_default_database_is_a_sqlite_file_in_the_instance_folder(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = load_settings(instance_path=tmp_path)
    assert settings.effective_database_url == f"sqlite:///{tmp_path / 'billhive.db'}"


def test_default_billbee_base_url_is_the_real_api(clean_env: pytest.MonkeyPatch) -> None:
    settings = Settings()
    assert settings.billbee_base_url == "https://api.billbee.io/api/v1"
    assert settings.billbee_base_url_is_default


def test_a_configured_billbee_url_is_not_the_default(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("BILLHIVE_BILLBEE_BASE_URL", "https://billbee.example/api/v1")
    assert not Settings().billbee_base_url_is_default


def test_settings_are_read_from_prefixed_environment_variables(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("BILLHIVE_WEB_PORT", "9123")
    clean_env.setenv("BILLHIVE_LOG_LEVEL", "DEBUG")
    settings = Settings()
    assert (settings.web_port, settings.log_level) == (9123, "DEBUG")


def test_production_without_secrets_names_every_missing_variable(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(env="production", instance_path=tmp_path)
    message = str(caught.value)
    for name in (
        "BILLHIVE_SECRET_KEY",
        "BILLHIVE_BILLBEE_API_KEY",
        "BILLHIVE_VAULT_KEYS",
        "BILLHIVE_BLIND_INDEX_KEY",
        "BILLHIVE_DATABASE_URL",
        "BILLHIVE_REDIS_URL",
    ):
        assert name in message


def test_production_ignores_the_development_secrets_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensure_dev_secrets(tmp_path)
    with pytest.raises(ConfigError, match="BILLHIVE_SECRET_KEY"):
        load_settings(env="production", instance_path=tmp_path)


def test_dev_secrets_are_generated_once_and_reused(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensure_dev_secrets(tmp_path)
    first = load_settings(instance_path=tmp_path)
    ensure_dev_secrets(tmp_path)
    second = load_settings(instance_path=tmp_path)
    assert first.require("secret_key") == second.require("secret_key")
    assert first.require("vault_keys") == second.require("vault_keys")
    assert (tmp_path / DEV_SECRETS_FILE).stat().st_mode & 0o777 == 0o600


def test_environment_wins_over_the_dev_secrets_file(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensure_dev_secrets(tmp_path)
    clean_env.setenv("BILLHIVE_BILLBEE_API_KEY", "from-the-environment")
    assert load_settings(instance_path=tmp_path).require("billbee_api_key") == (
        "from-the-environment"
    )


def test_a_missing_secret_names_its_variable(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BILLHIVE_VAULT_KEYS"):
        load_settings(instance_path=tmp_path).require("vault_keys")


def test_secrets_do_not_show_in_the_settings_repr(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    ensure_dev_secrets(tmp_path)
    settings = load_settings(instance_path=tmp_path)
    assert settings.require("secret_key") not in repr(settings)


def test_an_invalid_value_is_refused_with_the_setting_name(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("BILLHIVE_WEB_PORT", "eighty")
    with pytest.raises(ValueError, match="web_port"):
        Settings()


def test_an_unparseable_api_rate_limit_is_refused_naming_the_setting(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("BILLHIVE_API_RATE_LIMIT", "lots per second")
    with pytest.raises(ValueError, match="api_rate_limit"):
        Settings()


def test_bulk_caps_default_to_the_catalogs_and_take_overrides(
    clean_env: pytest.MonkeyPatch,
) -> None:
    clean_env.setenv("BILLHIVE_BULK_MAX_ITEMS", '{"orders.create_multiple": 10}')
    clean_env.setenv("BILLHIVE_STOCK_BATCH_SIZE", "40")
    caps = Settings().bulk_caps
    assert caps["orders.create_multiple"] == 10
    assert caps["products.update_stock_multiple"] == 40
    assert caps["shipments.ship_with_label_multiple"] == 20


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ('{"orders.list": 5}', "no bulk operation"),
        ('{"orders.create_multiple": 0}', "1..1000"),
        ('{"products.update_stock_multiple": 5}', "BILLHIVE_STOCK_BATCH_SIZE"),
    ],
)
def test_a_bad_bulk_cap_names_the_problem(
    clean_env: pytest.MonkeyPatch, value: str, problem: str
) -> None:
    from pydantic import ValidationError

    clean_env.setenv("BILLHIVE_BULK_MAX_ITEMS", value)
    with pytest.raises(ValidationError, match=problem):
        Settings()
