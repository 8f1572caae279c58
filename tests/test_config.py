"""Settings: defaults, production checks, development secrets."""

import base64
import os
from pathlib import Path

import pytest
from support.production import production_secrets

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


# -- production refuses weak secrets ---------------------------------------------------


def strong_production(tmp_path: Path, **overrides: object) -> dict[str, object]:
    """Settings production accepts: random secrets, https URLs, database and Redis."""
    values: dict[str, object] = {
        "env": "production",
        "instance_path": tmp_path,
        "database_url": "postgresql+psycopg://billhive@db/billhive",
        "redis_url": "redis://redis:6379/0",
        "public_url": "https://billhive.example.com",
        **production_secrets(),
    }
    values.update(overrides)
    return values


def test_production_starts_with_strong_secrets_and_https_urls(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings(**strong_production(tmp_path)).env == "production"


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("billbee_api_key", "", "is empty"),
        ("billbee_api_key", "   ", "is empty"),
        ("billbee_api_key", "dev-0123456789abcdef0123", "development or example"),
        ("secret_key", "x", "too short"),
        ("secret_key", "changeme-" + "k3Yq9ZpL2wXr8TbN4vMa7sEd", "development or example"),
        ("secret_key", "ab" * 32, "repeats a few characters"),
        ("metrics_token", "tok-9", "too short"),
        ("vault_keys", "k1:" + base64.b64encode(bytes(32)).decode(), "repeats a few bytes"),
        ("vault_keys", "k1:" + base64.b64encode(b"\xff" * 32).decode(), "repeats a few bytes"),
        ("vault_keys", "k1:bm90IGEga2V5", "must be 32 bytes"),
        ("vault_keys", "k1:%%%", "not valid base64"),
        ("vault_keys", "dev1:" + base64.b64encode(bytes(range(32))).decode(), "development key id"),
        ("blind_index_key", base64.b64encode(bytes(32)).decode(), "repeats a few bytes"),
    ],
)
def test_production_refuses_a_weak_secret_naming_its_variable(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str, reason: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(**strong_production(tmp_path, **{variable: value}))
    message = str(caught.value)
    assert f"BILLHIVE_{variable.upper()}" in message
    assert reason in message
    if len(value.strip()) > 3:
        assert value.strip() not in message


def test_production_refuses_the_blind_index_key_reused_as_a_vault_key(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    key = base64.b64encode(os.urandom(32)).decode()
    with pytest.raises(ConfigError, match="BILLHIVE_BLIND_INDEX_KEY is also a vault key"):
        load_settings(**strong_production(tmp_path, vault_keys=f"k1:{key}", blind_index_key=key))


def test_production_refuses_the_generated_development_secrets(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from billhive.config import generate_dev_secrets

    dev = {k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()}
    with pytest.raises(ConfigError) as caught:
        load_settings(**strong_production(tmp_path, **dev))
    assert "BILLHIVE_BILLBEE_API_KEY" in str(caught.value)
    assert "BILLHIVE_VAULT_KEYS" in str(caught.value)


def test_production_starts_with_the_optional_metrics_token_left_empty(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings(**strong_production(tmp_path, metrics_token="")).env == "production"


def test_production_needs_a_public_url(clean_env: pytest.MonkeyPatch, tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="BILLHIVE_PUBLIC_URL"):
        load_settings(**strong_production(tmp_path, public_url=""))


@pytest.mark.parametrize("variable", ["public_url", "billbee_base_url"])
def test_production_needs_https_urls(
    clean_env: pytest.MonkeyPatch, tmp_path: Path, variable: str
) -> None:
    with pytest.raises(ConfigError, match=f"BILLHIVE_{variable.upper()} must be an https"):
        load_settings(**strong_production(tmp_path, **{variable: "http://billhive.example.com"}))


def test_development_keeps_accepting_short_secrets(
    clean_env: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    assert load_settings(instance_path=tmp_path, secret_key="x").require("secret_key") == "x"


# -- settings of the security features -------------------------------------------------


@pytest.mark.parametrize("entry", ["0.0.0.0/0", "169.254.0.0/16", "::/0", "10.0.0.0/8,nonsense"])
def test_a_callback_allow_list_covering_metadata_or_unreadable_is_refused(
    clean_env: pytest.MonkeyPatch, entry: str
) -> None:
    with pytest.raises(ValueError, match="callback_allowed_networks"):
        Settings(callback_allowed_networks=entry)


def test_an_unparseable_auth_failure_limit_is_refused_naming_the_setting(
    clean_env: pytest.MonkeyPatch,
) -> None:
    with pytest.raises(ValueError, match="api_auth_failure_limit"):
        Settings(api_auth_failure_limit="many")


# -- what config show prints -----------------------------------------------------------


def test_displayed_values_mask_the_passwords_inside_database_and_redis_urls(
    clean_env: pytest.MonkeyPatch,
) -> None:
    settings = Settings(
        database_url="postgresql+psycopg://billhive:pg-Secret-42@db:5432/billhive",
        redis_url="redis://:redis-Secret-42@redis:6379/0",
        sandbox_api_keys="sandbox-key-1,sandbox-key-2",
    )
    shown = settings.display_values()
    assert shown["database_url"] == "postgresql+psycopg://billhive:***@db:5432/billhive"
    assert shown["redis_url"] == "redis://:***@redis:6379/0"
    assert "sandbox-key" not in repr(shown)


def test_a_malformed_value_is_a_config_error_naming_the_variable_and_not_the_value(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BILLHIVE_WEB_PORT", "s3cr3t-looking-value")
    with pytest.raises(ConfigError) as caught:
        load_settings()
    assert "BILLHIVE_WEB_PORT" in str(caught.value)
    assert "s3cr3t-looking-value" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
