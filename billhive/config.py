"""Every billhive setting, read from ``BILLHIVE_*`` environment variables.

This is the only module that reads the environment. Nothing happens at import time:
call :func:`load_settings` to build a :class:`Settings`.

Secrets have no default. In development (the default mode) they are generated once into
``<instance>/dev-secrets.env`` by :func:`ensure_dev_secrets` and read from there; in
production a missing secret stops start-up with a message naming the variable.
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import os
import re
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

from limits import parse_many
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

ENV_PREFIX = "BILLHIVE_"
REAL_BILLBEE_BASE_URL = "https://api.billbee.io/api/v1"
DEV_SECRETS_FILE = "dev-secrets.env"

#: Settings that hold secrets: required in production, generated in development.
SECRET_SETTINGS = ("secret_key", "billbee_api_key", "vault_keys", "blind_index_key")
#: Secrets that may stay empty in production (the feature is off then).
OPTIONAL_SECRETS = frozenset({"metrics_token"})
#: Plain-text settings that hold keys all the same (the sandbox's accepted API keys).
MASKED_SETTINGS = frozenset({"sandbox_api_keys"})
#: Shortest SECRET_KEY (and metrics token) production accepts: 32 random characters.
SECRET_MIN_LENGTH = 32
#: Shortest Billbee API key production accepts (Billbee issues GUID-like keys).
API_KEY_MIN_LENGTH = 16
#: Fewest distinct characters (or bytes, for keys) a production secret must show: a random
#: 32-character secret has about 25, a typed or repeated one ("aaaa...", "abcabc...") few.
SECRET_MIN_DISTINCT = 8
#: Values a person types or copies from an example or from development, never a real secret.
_DEV_PATTERN = re.compile(
    r"^(dev|development|test|testing|demo|example|sample|default|secret|password|placeholder|"
    r"insecure|changeme|change[-_ ]me)([-_:.\d]|$)|change[-_ ]?me|insecure|not[-_ ]?secret",
    re.IGNORECASE,
)


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the variable."""


class Settings(BaseSettings):
    """All settings. Field ``foo`` is read from ``BILLHIVE_FOO``."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, extra="ignore", case_sensitive=False, validate_default=True
    )

    env: Literal["development", "production", "test"] = Field(
        "development",
        description="Run mode. `production` refuses to start without strong secrets and https.",
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
    feed_page_size: int = Field(
        100, ge=1, le=250, description="Records a change feed asks Billbee for per page."
    )
    feed_overlap_seconds: int = Field(
        120,
        ge=0,
        le=86400,
        description="Each feed pass reads this far back before its cursor (clock skew, "
        "records written late); what was already seen is not told twice.",
    )
    feed_poll_floor_seconds: float = Field(
        15.0,
        ge=1,
        le=3600,
        description="A recently active tenant's feed is polled at most this often.",
    )
    feed_poll_ceiling_seconds: float = Field(
        300.0,
        ge=1,
        le=86400,
        description="A quiet tenant's feed is polled at least this often (the safety net "
        "when a webhook is lost).",
    )
    feed_reconcile_seconds: float = Field(
        3600.0,
        ge=60,
        description="Every feed reads back a whole reconcile window this often (catches a "
        "change the cursor's overlap missed).",
    )
    feed_key_share: float = Field(
        0.10,
        ge=0.01,
        le=0.9,
        description="Share of the key's 50 calls/s the feed poller may start: it queues at "
        "most this many fetches per second, the most overdue first.",
    )
    feed_webhooks: bool = Field(
        True,
        description="Register a Billbee webhook for each active tenant with a feed on, so a "
        "change is read within seconds instead of at the next poll (needs "
        "BILLHIVE_PUBLIC_URL reachable from Billbee).",
    )
    feed_webhook_rate_limit: str = Field(
        "120 per minute",
        description="Posts one webhook URL may make (Flask-Limiter); more answer 429 (a "
        "post only brings the next poll forward, so nothing is lost).",
    )
    feed_event_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Feed events older than this are deleted (the pull API can replay "
        "this far back).",
    )
    reconcile_interval_seconds: int = Field(
        15,
        ge=1,
        le=3600,
        description="Seconds between the reconciler's runs (it pushes again the jobs Redis lost).",
    )
    payload_retention_days: int = Field(
        30,
        ge=1,
        le=3650,
        description="Days the parameters, body and result of a finished call are kept; then "
        "the retention job purges them (the call's status, timings and errors stay).",
    )
    payload_purge_batch: int = Field(
        1000,
        ge=1,
        le=100_000,
        description="Calls the retention job purges per statement (short transactions).",
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
        150.0,
        ge=0,
        le=1000,
        description="Milliseconds before a limit slot frees that a worker may take the job "
        "waiting for it (it prepares the call meanwhile and sends when the slot frees); 0 "
        "waits for the slot.",
    )
    worker_concurrency: int = Field(
        2,
        ge=1,
        le=256,
        description="Processes of `billhive worker`; each keeps as many calls in flight as "
        "fill the key at the measured latency (choose the number for resilience and CPU).",
    )
    worker_min_in_flight: int = Field(
        2, ge=1, le=1024, description="Fewest calls one worker process keeps in flight."
    )
    worker_max_in_flight: int = Field(
        64, ge=1, le=1024, description="Most calls one worker process keeps in flight."
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
        description="Public base URL (https) of the web app, for every link billhive hands "
        "out; required in production. Empty: `http://<web host>:<web port>`.",
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
    api_auth_failure_limit: str = Field(
        "20 per minute;200 per hour",
        description="Failed API authentications allowed per client address (limits syntax); "
        "over it the address gets 429 until the window moves on.",
    )
    callback_allowed_networks: str = Field(
        "",
        description="Comma-separated networks (CIDR) that callback URLs may reach although "
        "they are not public, e.g. `10.8.0.0/16`; plain http to them is allowed in production.",
    )
    metrics_token: SecretStr | None = Field(
        None,
        description="Bearer token Prometheus must send to read `/metrics`. Unset: `/metrics` "
        "answers 404.",
    )
    admin_session_hours: float = Field(
        12.0,
        gt=0,
        le=24 * 30,
        description="Hours an admin login lasts at most, however active the admin is.",
    )
    admin_idle_minutes: float = Field(
        60.0,
        gt=0,
        le=24 * 60,
        description="Minutes without a page view (polling does not count) that end an admin "
        "session.",
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

    @field_validator("api_rate_limit", "api_auth_failure_limit")
    @classmethod
    def _parseable_rate_limit(cls, value: str) -> str:
        try:
            parse_many(value)
        except ValueError:
            raise ValueError(
                f"{value!r} is not a rate limit such as '100 per second;3000 per minute'"
            ) from None
        return value

    @field_validator("callback_allowed_networks")
    @classmethod
    def _parseable_networks(cls, value: str) -> str:
        parse_networks(value)
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

    def display_values(self) -> dict[str, str]:
        """Every setting as ``billhive config show`` prints it: secrets, API keys and the
        passwords inside URLs masked."""
        shown: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                text = ""
            elif isinstance(value, SecretStr) or name in MASKED_SETTINGS:
                text = "**********" if str(value) else ""
            elif isinstance(value, str):
                text = mask_url_password(value)
            else:
                text = str(value)
            shown[name] = text
        return shown

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
        """Refuse to run production without secrets, with weak ones, or without https.

        Every problem is listed in one :class:`ConfigError`, each naming its variable and
        never showing a secret's value.
        """
        if self.env != "production":
            return
        missing = [f"{ENV_PREFIX}{n.upper()}" for n in SECRET_SETTINGS if getattr(self, n) is None]
        if not self.database_url:
            missing.append(f"{ENV_PREFIX}DATABASE_URL")
        if not self.redis_url:
            missing.append(f"{ENV_PREFIX}REDIS_URL")
        if not self.public_url:
            missing.append(f"{ENV_PREFIX}PUBLIC_URL")
        if missing:
            raise ConfigError(
                "Production mode needs these settings, which are not set: " + ", ".join(missing)
            )
        problems = [*self._secret_problems(), *self._url_problems()]
        if problems:
            raise ConfigError(
                "Production mode refuses these settings: " + "; ".join(problems) + "."
            )

    def _secret_problems(self) -> list[str]:
        problems: list[str] = []
        text_secrets = {
            "secret_key": SECRET_MIN_LENGTH,
            "billbee_api_key": API_KEY_MIN_LENGTH,
            "metrics_token": SECRET_MIN_LENGTH,
        }
        for name, min_length in text_secrets.items():
            value: SecretStr | None = getattr(self, name)
            if value is None or (name in OPTIONAL_SECRETS and not value.get_secret_value()):
                continue  # an optional secret left empty switches its feature off
            problem = weak_text_secret(value.get_secret_value(), min_length)
            if problem:
                problems.append(f"{ENV_PREFIX}{name.upper()} {problem}")
        keys: list[bytes] = []
        assert self.vault_keys is not None and self.blind_index_key is not None  # checked
        for key_id, encoded in _keyring_entries(self.vault_keys.get_secret_value()):
            where = f"{ENV_PREFIX}VAULT_KEYS (key {key_id!r})"
            if _DEV_PATTERN.search(key_id):
                problems.append(f"{where} has a development key id")
            raw, problem = decode_key(encoded)
            if problem:
                problems.append(f"{where} {problem}")
            elif raw is not None:
                keys.append(raw)
        raw, problem = decode_key(self.blind_index_key.get_secret_value())
        if problem:
            problems.append(f"{ENV_PREFIX}BLIND_INDEX_KEY {problem}")
        elif raw is not None and raw in keys:
            problems.append(f"{ENV_PREFIX}BLIND_INDEX_KEY is also a vault key; use its own key")
        if len(set(keys)) != len(keys):
            problems.append(f"{ENV_PREFIX}VAULT_KEYS holds the same key under two ids")
        return problems

    def _url_problems(self) -> list[str]:
        problems: list[str] = []
        for name in ("public_url", "billbee_base_url"):
            parts = urlsplit(getattr(self, name))
            if parts.scheme != "https" or not parts.hostname:
                problems.append(f"{ENV_PREFIX}{name.upper()} must be an https:// URL")
        return problems


def weak_text_secret(value: str, min_length: int) -> str | None:
    """Why ``value`` is not a production secret (empty, short, a development or example
    value, a few characters repeated), or None. The reason never quotes the value."""
    stripped = value.strip()
    if not stripped:
        return "is empty"
    if len(stripped) < min_length:
        return f"is too short ({len(stripped)} characters; at least {min_length} random ones)"
    if _DEV_PATTERN.search(stripped):
        return "looks like a development or example value"
    if len(set(stripped)) < SECRET_MIN_DISTINCT:
        return "repeats a few characters; use a random value"
    return None


def decode_key(encoded: str) -> tuple[bytes | None, str | None]:
    """A base64 32-byte key and None, or None and why it is not a usable production key."""
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None, "is not valid base64"
    if len(raw) != 32:
        return None, f"must be 32 bytes, not {len(raw)}"
    if len(set(raw)) < SECRET_MIN_DISTINCT:
        return None, "repeats a few bytes (e.g. all zero); make one with `billhive vault new-key`"
    return raw, None


def _keyring_entries(spec: str) -> list[tuple[str, str]]:
    entries = []
    for entry in (part.strip() for part in spec.split(",")):
        if entry:
            key_id, _, encoded = entry.partition(":")
            entries.append((key_id.strip(), encoded))
    return entries


#: Addresses of cloud metadata services: no allow-list entry may cover them.
METADATA_ADDRESSES = (
    ipaddress.ip_address("169.254.169.254"),
    ipaddress.ip_address("fd00:ec2::254"),
    ipaddress.ip_address("100.100.100.200"),
)


def parse_networks(spec: str) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    """The networks of a comma-separated CIDR list; ValueError names a bad entry.

    An entry that covers a cloud metadata address (169.254.169.254 ...) is refused: no
    callback ever needs to reach it, and ``0.0.0.0/0`` would switch the protection off.
    """
    networks = []
    for entry in (part.strip() for part in spec.split(",")):
        if not entry:
            continue
        try:
            network = ipaddress.ip_network(entry, strict=False)
        except ValueError:
            raise ValueError(f"{entry!r} is not a network such as 10.8.0.0/16") from None
        if any(address in network for address in METADATA_ADDRESSES):
            raise ValueError(f"{entry!r} covers a cloud metadata address; name a narrower one")
        networks.append(network)
    return tuple(networks)


def mask_url_password(value: str) -> str:
    """``value`` with the password of a ``scheme://user:password@host`` URL masked."""
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password or "@" not in parts.netloc:
        return value
    userinfo, _, hostport = parts.netloc.rpartition("@")
    user = userinfo.partition(":")[0]
    return urlunsplit(parts._replace(netloc=f"{user}:***@{hostport}"))


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
    settings = _build(overrides)
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
                settings = _build({**from_file, **overrides})
    settings.check_production()
    return settings


def _problem(location: tuple[int | str, ...], message: str) -> str:
    if not location:
        return message
    return f"{ENV_PREFIX}{str(location[0]).upper()}: {message}"


def _build(values: dict[str, object]) -> Settings:
    """``Settings(**values)``, a malformed value reported as :class:`ConfigError` naming
    each variable and its problem, never the value (it may be a secret)."""
    try:
        return Settings(**values)  # type: ignore[arg-type]
    except ValidationError as exc:
        problems = [
            _problem(error["loc"], error["msg"])
            for error in exc.errors(include_input=False, include_url=False)
        ]
        raise ConfigError("Invalid settings: " + "; ".join(problems)) from None
