"""The control API under ``/api/v1/_sandbox/``: stats, accounts, faults, latency, throttle,
webhook delivery, the change generator and the change log.

It is for tests, benchmarks and demos on a local machine and needs no credentials; it
never shows a username or password. Documented in docs/sandbox.md.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Flask, Response, jsonify, request

from billhive.sandbox.accounts import Account, SeedError
from billhive.sandbox.faults import FaultSpec, KnobError, LatencySpec
from billhive.sandbox.webhook_delivery import WebhookKnobs

if TYPE_CHECKING:
    from billhive.sandbox.runtime import SandboxRuntime

PREFIX = "/api/v1/_sandbox"


def _problem(message: str, status: int = 400) -> Response:
    response = jsonify({"error": message})
    response.status_code = status
    return response


def _json_object() -> dict[str, Any] | None:
    data = request.get_json(force=True, silent=True)
    return data if isinstance(data, dict) else None


def register_control(app: Flask, runtime: SandboxRuntime) -> None:
    """Add the control endpoints to ``app``."""

    def account_or_404(account_id: int) -> Account | Response:
        account = runtime.registry.get(account_id)
        return account if account is not None else _problem(f"no account {account_id}", 404)

    @app.get(f"{PREFIX}/health")
    def health() -> Response:
        return jsonify({"status": "ok"})

    @app.get(f"{PREFIX}/stats")
    def stats() -> Response:
        return jsonify(runtime.stats.snapshot())

    @app.post(f"{PREFIX}/reset-stats")
    def reset_stats() -> Response:
        runtime.stats.reset()
        runtime.usage.reset()
        return jsonify({"status": "reset"})

    @app.post(f"{PREFIX}/reset-throttle")
    def reset_throttle() -> Response:
        runtime.reset_throttle()
        return jsonify({"status": "reset"})

    @app.get(f"{PREFIX}/settings")
    def get_settings() -> Response:
        return jsonify(
            {
                "throttle": runtime.throttle_enabled,
                "send_retry_after": runtime.send_retry_after,
                "latency": runtime.latency.as_dict(),
                "max_stock_batch": runtime.max_stock_batch,
                "bulk_caps": runtime.bulk_caps,
            }
        )

    @app.patch(f"{PREFIX}/settings")
    def patch_settings() -> Response:
        data = _json_object()
        if data is None:
            return _problem("send a JSON object")
        for name in ("throttle", "send_retry_after"):
            if name in data and not isinstance(data[name], bool):
                return _problem(f"{name} must be true or false")
        try:
            latency = LatencySpec.from_dict(data["latency"]) if "latency" in data else None
        except KnobError as exc:
            return _problem(str(exc))
        runtime.throttle_enabled = data.get("throttle", runtime.throttle_enabled)
        runtime.send_retry_after = data.get("send_retry_after", runtime.send_retry_after)
        runtime.latency = latency or runtime.latency
        return get_settings()

    @app.get(f"{PREFIX}/webhooks")
    def get_webhooks() -> Response:
        return jsonify(runtime.webhooks.stats())

    @app.put(f"{PREFIX}/webhooks")
    def put_webhooks() -> Response:
        data = _json_object()
        if data is None:
            return _problem("send a JSON object")
        try:
            runtime.webhooks.knobs = WebhookKnobs.from_dict(data, runtime.webhooks.knobs)
        except KnobError as exc:
            return _problem(str(exc))
        return get_webhooks()

    @app.get(f"{PREFIX}/changes/generator")
    def get_generator() -> Response:
        return jsonify(runtime.generator.settings())

    @app.put(f"{PREFIX}/changes/generator")
    def put_generator() -> Response:
        data = _json_object()
        if data is None:
            return _problem("send a JSON object")
        try:
            runtime.generator.configure(data)
        except KnobError as exc:
            return _problem(str(exc))
        return get_generator()

    @app.get(f"{PREFIX}/changes")
    def list_changes() -> Response:
        try:
            after = int(request.args.get("after", 0))
            limit = int(request.args.get("limit", 10_000))
        except ValueError:
            return _problem("after and limit must be whole numbers")
        if after < 0 or not 1 <= limit <= 100_000:
            return _problem("after must be >= 0, limit between 1 and 100000")
        rows = runtime.changes.after(after, limit)
        return jsonify({"items": rows, "next_after": rows[-1]["seq"] if rows else after})

    @app.post(f"{PREFIX}/api-keys")
    def add_api_key() -> Response:
        data = _json_object()
        key = data.get("api_key") if data else None
        if not isinstance(key, str) or not key:
            return _problem('send {"api_key": "..."}')
        runtime.registry.add_key(key)
        return jsonify({"status": "added"})

    @app.get(f"{PREFIX}/accounts")
    def list_accounts() -> Response:
        return jsonify([a.public() for a in runtime.registry.all()])

    @app.post(f"{PREFIX}/accounts")
    def add_account() -> Response:
        data = _json_object()
        if data is None:
            return _problem("send an account object (see docs/sandbox.md)")
        try:
            account = Account.from_dict(data)
            runtime.registry.add(account)
        except SeedError as exc:
            return _problem(str(exc))
        response = jsonify(account.public())
        response.status_code = 201
        return response

    @app.patch(f"{PREFIX}/accounts/<int:account_id>")
    def patch_account(account_id: int) -> Response:
        account = account_or_404(account_id)
        if isinstance(account, Response):
            return account
        data = _json_object()
        if data is None:
            return _problem("send a JSON object")
        for flag in ("api_enabled", "invoice_creation_allowed"):
            if flag in data and not isinstance(data[flag], bool):
                return _problem(f"{flag} must be true or false")
        if "password" in data:
            try:
                runtime.registry.set_password(account.id, str(data["password"]))
            except SeedError as exc:
                return _problem(str(exc))
        account.api_enabled = data.get("api_enabled", account.api_enabled)
        account.invoice_creation_allowed = data.get(
            "invoice_creation_allowed", account.invoice_creation_allowed
        )
        return jsonify(account.public())

    @app.get(f"{PREFIX}/accounts/<int:account_id>/faults")
    def get_faults(account_id: int) -> Response:
        account = account_or_404(account_id)
        if isinstance(account, Response):
            return account
        return jsonify(runtime.faults.get(account.id).__dict__)

    @app.put(f"{PREFIX}/accounts/<int:account_id>/faults")
    def put_faults(account_id: int) -> Response:
        account = account_or_404(account_id)
        if isinstance(account, Response):
            return account
        data = _json_object()
        if data is None:
            return _problem("send a JSON object")
        try:
            spec = FaultSpec.from_dict(data)
        except KnobError as exc:
            return _problem(str(exc))
        runtime.faults.set(account.id, spec)
        return jsonify(spec.__dict__)
