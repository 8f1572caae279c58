"""Redis connections: one place that turns the settings into a client."""

from __future__ import annotations

from redis import Redis

from billhive.config import ConfigError, Settings


def redis_from_settings(settings: Settings) -> Redis:
    """A Redis client for the configured URL (raw bytes, as RQ requires)."""
    if not settings.redis_url:
        raise ConfigError(
            "BILLHIVE_REDIS_URL is not set. `billhive dev` starts an embedded Redis; "
            "other commands need the URL of a running one."
        )
    return Redis.from_url(settings.redis_url, socket_connect_timeout=5, health_check_interval=30)
