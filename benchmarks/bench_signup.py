"""Signup POST handling, the Billbee call excluded, printed as JSON. Target: <= 20 ms median.

Each sample is one complete ``POST /signup`` through the whole WSGI stack (CSRF check,
rate limiter on Redis, form and Billbee-rule checks, blind-index duplicate lookup, sealing
both secrets, inserting tenant + credentials + audit row, commit, redirect) with a
verifier that answers at once instead of calling Billbee. Every post comes from its own
client address (so the rate limit counts but never refuses) and signs up a new username.

Runs on a fresh SQLite file by default, or on PostgreSQL with ``--database-url`` (a fresh
database is created next to it and dropped afterwards). Redis is an embedded redis-server.

    .venv/bin/python benchmarks/bench_signup.py [--posts 300] [--database-url URL]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import fresh_database
from sqlalchemy.engine import make_url

from billhive.config import generate_dev_secrets, load_settings
from billhive.dev.embedded_redis import EmbeddedRedis
from billhive.platform import create_app
from billhive.platform.extensions import set_verifier

TARGET_MS = 20.0
WARMUP = 20


def _form(index: int, token: str) -> dict[str, str]:
    return {
        "csrf_token": token,
        "display_name": f"Bench Shop {index}",
        "contact_email": f"owner{index}@bench-shop.de",
        "billbee_username": f"merchant{index}@bench.example",
        "api_password": f"Bench#Pass{index:05d}x",
        "invoice_creation_allowed": "y",
        "consent": "y",
    }


def _csrf_token(client: Any) -> str:
    page = client.get("/signup").get_data(as_text=True)
    marker = 'name="csrf_token" type="hidden" value="'
    start = page.index(marker) + len(marker)
    return page[start : page.index('"', start)]


def measure(client: Any, posts: int) -> list[float]:
    """Milliseconds of each of ``posts`` signup POSTs (after a warm-up)."""
    token = _csrf_token(client)
    samples: list[float] = []
    for index in range(WARMUP + posts):
        address = f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}"
        started = time.perf_counter()
        response = client.post(
            "/signup", data=_form(index, token), environ_base={"REMOTE_ADDR": address}
        )
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 303:
            raise SystemExit(f"post {index} answered {response.status_code}, not 303")
        if index >= WARMUP:
            samples.append(elapsed)
    return samples


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print its figures as one JSON object."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--posts", type=int, default=300)
    parser.add_argument("--database-url", default="", help="PostgreSQL URL (default: SQLite)")
    args = parser.parse_args(argv)
    secrets = {k.removeprefix("BILLHIVE_").lower(): v for k, v in generate_dev_secrets().items()}
    with (
        tempfile.TemporaryDirectory() as tmp,
        EmbeddedRedis(Path(tmp) / "redis") as redis_server,
        fresh_database(args.database_url, "signup", Path(tmp)) as database_url,
    ):
        settings = load_settings(
            env="test",
            instance_path=Path(tmp) / "instance",
            database_url=database_url,
            redis_url=redis_server.url,
            **secrets,
        )
        app = create_app(settings)
        set_verifier(app, lambda _username, _password: None)
        samples = measure(app.test_client(), args.posts)
    samples_sorted = sorted(samples)
    median = statistics.median(samples)
    result = {
        "benchmark": "signup_post",
        "database": make_url(database_url).get_backend_name(),
        "posts": len(samples),
        "median_ms": round(median, 3),
        "p95_ms": round(samples_sorted[int(len(samples) * 0.95) - 1], 3),
        "mean_ms": round(statistics.fmean(samples), 3),
        "max_ms": round(samples_sorted[-1], 3),
        "target_median_ms": TARGET_MS,
        "meets_target": median <= TARGET_MS,
        "python": platform.python_version(),
    }
    print(json.dumps(result, indent=2))
    return 0 if result["meets_target"] else 1


if __name__ == "__main__":
    sys.exit(main())
