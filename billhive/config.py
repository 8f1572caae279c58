"""Every billhive setting, read from ``BILLHIVE_*`` environment variables.

This is the only module that reads the environment. Nothing happens at import time:
call :func:`load_settings` to build a :class:`Settings`.

Secrets have no default. In development (the default mode) they are generated once into
``<instance>/dev-secrets.env`` by :func:`ensure_dev_secrets` and read from there; in
production a missing secret stops start-up with a message naming the variable.
"""

from __future__ import annotations

import base64
import os
import secrets
from pathlib import Path
from typing import Literal

from limits import parse_many
from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BILLHIVE_"
REAL_BILLBEE_BASE_URL = "https://api.billbee.io/api/v1"
DEV_SECRETS_FILE = "dev-secrets.env"

#: Settings that hold secrets: required in production, generated in development.
SECRET_SETTINGS = ("secret_key", "billbee_api_key", "vault_keys", "blind_index_key")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """All settings. Field ``foo`` is read from ``BILLHIVE_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, validate_default=True
    )

    env: Literal["development", "production", "test"] = Field(
        "development", description="Run mode. `production` refuses to start without secrets."
    )
    instance_path: Path = Field(
        Path("instance"),
        description="Folder for the SQLite file, generated dev secrets and embedded Redis data.",
    )
    database_url: str = Field(
        "", description="SQLAlchemy URL. Empty: SQLite file `<instance>/billhive.db`."
    )
    redis_url: str = Field(
        "", description="Redis URL. Empty: `billhive dev` starts an embedded redis-server."
    )
    billbee_base_url: str = Field(
        REAL_BILLBEE_BASE_URL,
        description="Billbee API base. `billhive dev` points it at the local sandbox when unset.",
    )
    billbee_api_key: SecretStr | None = Field(
        None, description="The developer API key Billbee issued to the integration vendor."
    )
    billbee_timeout: float = Field(30.0, description="Seconds before a Billbee call times out.")
    call_max_attempts: int = Field(
        5, ge=1, le=50, description="Attempts of a call on 5xx/timeouts (idempotent calls only)."
    )
    call_attempts_by_operation: dict[str, int] = Field(
        default_factory=dict,
        description='Per-operation attempts, JSON: `{"orders.get": 8}`.',
    )
    call_lease_seconds: float = Field(
        135.0,
        ge=5,
        description="Seconds a started attempt may still be running: a call found running "
        "after that, with no worker on it, is sent again (idempotent) or marked "
        "unknown_outcome. Keep above the job timeout (120 s).",
    )
    background_share: float = Field(
        0.10,
        ge=0.01,
        le=0.9,
        description="Share of the key's calls the background lane (the platform's own "
        "housekeeping) gets while other lanes have work; all of it when they have none.",
    )
    bulk_share: float = Field(
        0.25,
        ge=0.01,
        le=0.9,
        description="Share of the foreground calls the bulk lane gets while interactive calls "
        "wait; all of them when none do.",
    )
    reconcile_interval_seconds: int = Field(
        15,
        ge=1,
        le=3600,
        description="Seconds between the reconciler's runs (it pushes again the jobs Redis lost).",
    )
    reverify_interval_hours: float = Field(
        24.0, gt=0, description="Every active tenant's credentials are re-verified this often."
    )
    usage_reconcile_hours: float = Field(
        24.0,
        gt=0,
        description="Every active tenant's Billbee usage (GET /apiusage) is compared with "
        "billhive's own count this often.",
    )
    usage_diff_threshold_percent: float = Field(
        5.0,
        ge=0,
        description="A difference between Billbee's and billhive's call counts above this "
        "share of billhive's (and above 50 calls) is shown on the dashboard.",
    )
    demo_stream: bool = Field(
        False, description="Keep a light stream of demo calls flowing (`billhive dev` sets it)."
    )
    dispatch_jitter_ms: float = Field(
        35.0,
        ge=0,
        le=1000,
        description="Milliseconds added to every limit window: room for calls that arrive at "
        "Billbee later than they were sent.",
    )
    dispatch_key_headroom: int = Field(
        0, ge=0, le=49, description="Calls per second kept free in the key-wide 50/s budget."
    )
    dispatch_lead_ms: float = Field(
        60.0,
        ge=0,
        le=1000,
        description="Milliseconds before a limit slot frees that a worker may take the job "
        "waiting for it (it prepares the call meanwhile and sends when the slot frees); 0 "
        "waits for the slot.",
    )
    worker_concurrency: int = Field(
        8, ge=1, le=256, description="Processes of `billhive worker` (calls in flight at once)."
    )
    stock_batch_size: int = Field(
        100,
        ge=1,
        le=250,
        description="Most stock updates merged into one updatestockmultiple (not published).",
    )
    bulk_max_items: dict[str, int] = Field(
        default_factory=dict,
        description="Most items per call of Billbee's other bulk operations, JSON: "
        '`{"orders.create_multiple": 50}` (not published; defaults in docs/billbee-client.md).',
    )
    secret_key: SecretStr | None = Field(
        None, description="Flask secret key: signs sessions, CSRF tokens and links."
    )
    vault_keys: SecretStr | None = Field(
        None,
        description="Vault keyring `id1:base64key,id2:base64key` (32-byte keys); first is active.",
    )
    blind_index_key: SecretStr | None = Field(
        None, description="Key (base64, 32 bytes) of the keyed hash used to look up usernames."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of every process."
    )
    log_json: bool = Field(False, description="Log JSON lines instead of console text.")
    web_host: str = Field("127.0.0.1", description="Address the web app binds to.")
    web_port: int = Field(8000, description="Port of the web app.")
    web_workers: int = Field(2, description="gunicorn worker processes of `billhive web`.")
    public_url: str = Field(
        "",
        description="Public base URL of the web app, for links the CLI and admin hand out. "
        "Empty: `http://<web host>:<web port>`.",
    )
    signup_rate_limit: str = Field(
        "10 per minute;50 per hour",
        description="Signup/reconnect/leave POSTs allowed per client address (Flask-Limiter).",
    )
    reconnect_link_days: int = Field(7, ge=1, description="Days a reconnect link stays valid.")
    leave_link_days: int = Field(30, ge=1, description="Days a leave link stays valid.")
    api_rate_limit: str = Field(
        "100 per second;3000 per minute",
        description="JSON API requests allowed per token, all endpoints together (limits syntax).",
    )
    api_token_cache_seconds: float = Field(
        5.0, ge=0, description="Seconds a web process trusts a checked API token (revocation lag)."
    )
    sandbox_host: str = Field("127.0.0.1", description="Address the Billbee sandbox binds to.")
    sandbox_port: int = Field(8001, description="Port of the Billbee sandbox.")
    sandbox_api_keys: str = Field(
        "", description="Comma-separated API keys the sandbox accepts (dev adds the app's key)."
    )
    sandbox_seed_file: str = Field(
        "", description="JSON file of sandbox accounts to seed (see docs/sandbox.md)."
    )

    @field_validator("instance_path")
    @classmethod
    def _absolute_instance(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @field_validator("bulk_max_items")
    @classmethod
    def _known_bulk_operations(cls, value: dict[str, int]) -> dict[str, int]:
        # The catalog's limits are pure data (no I/O, standard library only).
        from billhive.billbee.limits import BULK_MAX_ITEMS, STOCK_BATCH_OPERATION

        for name, items in value.items():
            if name == STOCK_BATCH_OPERATION:
                raise ValueError(f"{name} is capped by BILLHIVE_STOCK_BATCH_SIZE")
            if name not in BULK_MAX_ITEMS:
                known = ", ".join(sorted(set(BULK_MAX_ITEMS) - {STOCK_BATCH_OPERATION}))
                raise ValueError(f"{name!r} is no bulk operation (known: {known})")
            if not 1 <= items <= 1000:
                raise ValueError(f"{name}: items per call must be 1..1000, not {items}")
        return value

    @field_validator("api_rate_limit")
    @classmethod
    def _parseable_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit such as '100 per second;3000 per minute'"
            ) from None
        return value

    # -- derived values -------------------------------------------------------------

    @property
    def effective_database_url(self) -> str:
        """The configured database URL, or the SQLite file in the instance folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.instance_path / 'billhive.db'}"

    @property
    def bulk_caps(self) -> dict[str, int]:
        """Most items per call of every bulk operation: the defaults, the stock batch size,
        and the configured overrides."""
        from billhive.billbee.limits import BULK_MAX_ITEMS, STOCK_BATCH_OPERATION

        return {
            **BULK_MAX_ITEMS,
            STOCK_BATCH_OPERATION: self.stock_batch_size,
            **self.bulk_max_items,
        }

    @property
    def billbee_base_url_is_default(self) -> bool:
        """True when nobody configured a Billbee URL (so dev may use the sandbox)."""
        return "billbee_base_url" not in self.model_fields_set

    def require(self, name: str) -> str:
        """Return a secret setting's plaintext, or raise naming its variable."""
        value = getattr(self, name)
        if value is None or not value.get_secret_value():
            raise ConfigError(
                f"{ENV_PREFIX}{name.upper()} is not set. "
                "Set it in the environment (see .env.example)."
            )
        secret: str = value.get_secret_value()
        return secret

    def check_production(self) -> None:
        """Refuse to run production without secrets or with embedded defaults."""
        if self.env != "production":
            return
        missing = [f"{ENV_PREFIX}{n.upper()}" for n in SECRET_SETTINGS if getattr(self, n) is None]
        if not self.database_url:
            missing.append(f"{ENV_PREFIX}DATABASE_URL")
        if not self.redis_url:
            missing.append(f"{ENV_PREFIX}REDIS_URL")
        if missing:
            raise ConfigError(
                "Production mode needs these settings, which are not set: " + ", ".join(missing)
            )


def _read_env_file(path: Path) -> dict[str, str]:
    values: dict[str, str] = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, _, value = line.partition("=")
        values[name.strip()] = value.strip()
    return values


def new_key_b64() -> str:
    """A fresh random 32-byte key, base64-encoded (vault and blind-index keys)."""
    return base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def generate_dev_secrets() -> dict[str, str]:
    """Fresh random values for every secret setting, as env-file entries."""
    return {
        f"{ENV_PREFIX}SECRET_KEY": secrets.token_urlsafe(48),
        f"{ENV_PREFIX}BILLBEE_API_KEY": "dev-" + secrets.token_hex(16),
        f"{ENV_PREFIX}VAULT_KEYS": "dev1:" + new_key_b64(),
        f"{ENV_PREFIX}BLIND_INDEX_KEY": new_key_b64(),
    }


def ensure_dev_secrets(instance_path: Path) -> Path:
    """Write development secrets into the instance folder once; reuse them afterwards.

    New secret settings added later are appended, existing ones are never changed (that
    would make the vault unreadable).
    """
    instance_path.mkdir(parents=True, exist_ok=True)
    path = instance_path / DEV_SECRETS_FILE
    existing = _read_env_file(path) if path.exists() else {}
    missing = {k: v for k, v in generate_dev_secrets().items() if k not in existing}
    if missing:
        lines = [f"{k}={v}" for k, v in missing.items()]
        header = [] if existing else ["# Development secrets, generated once by billhive."]
        with path.open("a", encoding="utf-8") as handle:
            handle.write("\n".join(header + lines) + "\n")
        path.chmod(0o600)
    return path


def load_settings(**overrides: object) -> Settings:
    """Build the settings from the environment (and, in development, the dev secrets file).

    ``overrides`` win over everything (tests use them). In production a missing secret
    raises :class:`ConfigError`.
    """
    settings = Settings(**overrides)  # type: ignore[arg-type]
    if settings.env != "production":
        secrets_file = settings.instance_path / DEV_SECRETS_FILE
        if secrets_file.exists():
            from_file = {
                k[len(ENV_PREFIX) :].lower(): v
                for k, v in _read_env_file(secrets_file).items()
                if k.startswith(ENV_PREFIX) and k not in os.environ
            }
            from_file = {k: v for k, v in from_file.items() if k not in overrides}
            if from_file:
                settings = Settings(**{**from_file, **overrides})  # type: ignore[arg-type]
    settings.check_production()
    return settings
