"""The sandbox application factory (placeholder until the Billbee sandbox issue lands)."""

from __future__ import annotations

from collections.abc import Iterable

from flask import Flask, jsonify
from flask.typing import ResponseReturnValue


def create_sandbox_app(api_keys: Iterable[str] = ()) -> Flask:
    """Build the sandbox app accepting ``api_keys``."""
    app = Flask(__name__)
    app.config["SANDBOX_API_KEYS"] = frozenset(api_keys)

    @app.get("/api/v1/_sandbox/health")
    def health() -> ResponseReturnValue:
        return jsonify({"status": "ok"})

    return app
