"""The sandbox application factory: auth, throttling, knobs, then the operation handlers.

Every operation of ``billhive.billbee.operations`` gets a route under ``/api/v1``; the
implemented ones run their handler, the others answer 501 inside the envelope. Each call
passes, in order: API key (401), Basic credentials (401), "API access enabled"
(200 + ErrorCode 1), the throttle (429), latency and the faults that stop a request
before Billbee (500, the proxy's 503), the handler, then the faults that hit the answer
(the proxy's 502 and 504, a connection reset mid-body). Query keys reach the handlers
normalized (:mod:`billhive.sandbox.query`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from flask import Flask, Response, jsonify, request
from flask.typing import ResponseReturnValue
from werkzeug.exceptions import HTTPException

from billhive.billbee.limits import (
    BULK_MAX_ITEMS,
    STOCK_BATCH_OPERATION,
    UPDATE_STOCK_MULTIPLE_MAX_ITEMS,
    buckets_for,
)
from billhive.billbee.operations import OPERATIONS, Operation
from billhive.sandbox.accounts import Account, AccountRegistry, coerce_accounts, load_seed_file
from billhive.sandbox.changes import note_state_change
from billhive.sandbox.control import register_control
from billhive.sandbox.envelope import ErrorCode, SandboxError, failure
from billhive.sandbox.faults import Fault, LatencySpec
from billhive.sandbox.query import normalize_query
from billhive.sandbox.routes import Call, Handler, all_handlers
from billhive.sandbox.runtime import SandboxRuntime
from billhive.sandbox.state import utc_now
from billhive.sandbox.stats import key_label
from billhive.sandbox.throttle import retry_after_header
from billhive.sandbox.upstream import cut_mid_body, proxy_page

EXTENSION = "billhive_sandbox"
DENIED = "Authorization has been denied for this request."


def create_sandbox_app(
    *,
    api_keys: Iterable[str] = (),
    accounts: Iterable[Account | Mapping[str, Any]] = (),
    throttle: bool = True,
    send_retry_after: bool = True,
    latency: LatencySpec | None = None,
    seed_file: str | None = None,
    max_stock_batch: int = UPDATE_STOCK_MULTIPLE_MAX_ITEMS,
    bulk_caps: Mapping[str, int] | None = None,
    state_file: str | None = None,
    clock: Callable[[], float] | None = None,
) -> Flask:
    """Build a sandbox serving ``accounts`` to callers with one of ``api_keys``.

    ``seed_file`` adds keys and accounts from a JSON file (docs/sandbox.md); ``state_file``
    keeps the accounts' data across restarts. ``throttle=False`` switches the limits off
    (benchmarks), ``send_retry_after=False`` omits the header on 429 as Billbee sometimes
    does. ``clock`` (seconds, monotonic) replaces the throttle's clock in tests.
    ``bulk_caps`` overrides the items per call of bulk operations (default: the catalog's
    caps, ``max_stock_batch`` for updatestockmultiple). Bad seed data raises
    ``SeedError`` naming the problem.
    """
    keys, seeded = list(api_keys), coerce_accounts(accounts)
    if seed_file:
        file_keys, file_accounts = load_seed_file(seed_file)
        keys, seeded = keys + file_keys, seeded + file_accounts
    runtime = SandboxRuntime.build(
        AccountRegistry(keys, seeded),
        state_file=state_file,
        throttle_enabled=throttle,
        send_retry_after=send_retry_after,
        latency=latency or LatencySpec(),
        bulk_caps={
            **BULK_MAX_ITEMS,
            STOCK_BATCH_OPERATION: max_stock_batch,
            **(bulk_caps or {}),
        },
        clock=clock or time.monotonic,
    )
    app = Flask(__name__)
    app.json.sort_keys = False  # type: ignore[attr-defined]  # keep Billbee's field order
    app.extensions[EXTENSION] = runtime
    handlers = all_handlers()
    for operation in OPERATIONS.values():
        app.add_url_rule(
            _flask_rule(operation),
            endpoint=operation.name,
            view_func=_view(runtime, operation, handlers.get(operation.name)),
            methods=[operation.method],
        )
    register_control(app, runtime)
    app.wsgi_app = _stamp_arrival(app.wsgi_app, runtime.clock)  # type: ignore[method-assign]
    app.register_error_handler(HTTPException, _http_error)
    return app


#: WSGI environ key of the time a request reached the sandbox (the throttle's clock).
ARRIVED = "billhive.sandbox.arrived"


def _stamp_arrival(wsgi_app: Any, clock: Callable[[], float]) -> Any:
    """Stamp each request as it enters, before routing and authentication: Billbee's
    throttle counts a call when it arrives, however long the server then takes."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        environ[ARRIVED] = clock()
        return wsgi_app(environ, start_response)

    return app


def implemented_operations() -> list[str]:
    """Names of the operations the sandbox answers (the rest get 501)."""
    return sorted(all_handlers())


def _flask_rule(operation: Operation) -> str:
    return re.sub(r"{(\w+)}", r"<\1>", operation.url_path)


def _http_error(exc: HTTPException) -> Response:
    """404/405 and friends in ASP.NET Web API's own shape (``{"Message": ...}``), which is
    what Billbee's framework answers before any of its code runs (the .NET SDK's
    ``_parseError`` reads ``Message`` next to the envelope's fields)."""
    status = exc.code or 500
    if status == 404:
        message = f"No HTTP resource was found that matches the request URI '{request.url}'."
    elif status == 405:
        message = f"The requested resource does not support http method '{request.method}'."
    else:
        message = exc.description or exc.name
    response = jsonify({"Message": message})
    response.status_code = status
    return response


def _denied() -> Response:
    response = jsonify({"Message": DENIED})
    response.status_code = 401
    response.headers["WWW-Authenticate"] = 'Basic realm="Billbee API"'
    return response


def _authenticate(runtime: SandboxRuntime) -> tuple[str, Account] | Response:
    """The caller's API key and account, or the 401 answer."""
    api_key = request.headers.get("X-Billbee-Api-Key", "")
    if not api_key or not runtime.registry.knows_key(api_key):
        return _denied()
    auth = request.authorization
    if auth is None or auth.type != "basic" or not auth.username or auth.password is None:
        return _denied()
    account = runtime.registry.authenticate(auth.username, auth.password)
    return _denied() if account is None else (api_key, account)


def _throttled(runtime: SandboxRuntime, wait: float) -> Response:
    response = jsonify({"Message": "API rate limit exceeded. Slow down."})
    response.status_code = 429
    if runtime.send_retry_after:
        response.headers["Retry-After"] = retry_after_header(wait)
    return response


def _admit(
    runtime: SandboxRuntime,
    operation: Operation,
    api_key: str,
    account: Account,
    *,
    params: Mapping[str, str],
) -> Response | None:
    """Count the call for GET /apiusage, apply the throttle, count the outcome; None when
    the call may proceed. Whether Billbee bills a call it throttles is not published: the
    sandbox counts every authenticated call, the conservative reading billhive's own
    count (usage_days) shares."""
    auth = request.authorization
    runtime.usage.record(
        key_label(api_key),
        account_id=account.id,
        username=auth.username if auth and auth.username else account.username,
        when=utc_now(),
        method=operation.method,
        endpoint=operation.path,
    )
    if runtime.throttle_enabled:
        buckets = buckets_for(operation, params, key_id=key_label(api_key), user_id=str(account.id))
        refused_by: list[str] = []
        wait = runtime.throttle.try_acquire(
            buckets, refused_by, arrived=request.environ.get(ARRIVED)
        )
        if wait is not None:
            runtime.stats.record(api_key, account.id, "throttled", rules=refused_by)
            return _throttled(runtime, wait)
    runtime.stats.record(api_key, account.id, "accepted")
    return None


def _before(runtime: SandboxRuntime, fault: Fault | None) -> Response | None:
    """Latency, then the faults that stop the request before Billbee's code runs."""
    delay = runtime.latency.sample_seconds(runtime.faults.latency_rng())
    if delay:
        time.sleep(delay)
    if fault == "error":
        return failure(500, ErrorCode.INTERNAL_ERROR, "An error has occurred (injected).")
    if fault == "unavailable":
        return proxy_page(503)
    return None


def _after(
    runtime: SandboxRuntime, account: Account, fault: Fault | None, response: Response
) -> Response:
    """The faults that hit the answer of a request Billbee carried out."""
    if fault == "timeout":
        time.sleep(runtime.faults.get(account.id).timeout_seconds)
        return proxy_page(504)
    if fault == "bad_gateway":
        return proxy_page(502)
    if fault == "reset":
        return cut_mid_body(response)
    return response


def _view(runtime: SandboxRuntime, operation: Operation, handler: Handler | None) -> Any:
    def view(**path: str) -> ResponseReturnValue:
        outcome = _authenticate(runtime)
        if isinstance(outcome, Response):
            return outcome
        api_key, account = outcome
        if not account.api_enabled:
            return failure(
                200, ErrorCode.API_NOT_ACTIVATED, "API access is not enabled for this account."
            )
        query = normalize_query(request.args, operation)
        early = _admit(runtime, operation, api_key, account, params={**query.to_dict(), **path})
        fault = runtime.faults.draw(account.id) if early is None else None
        if early is None:
            early = _before(runtime, fault)
        if early is not None:
            return early
        if handler is None:
            return failure(
                501,
                ErrorCode.INTERNAL_ERROR,
                f"Not implemented by the billhive sandbox: {operation.name} "
                f"({operation.method} {operation.path}).",
            )
        state = runtime.store.for_account(account)
        now = utc_now()
        call = Call(
            account=account,
            state=state,
            path=path,
            query=query,
            now=now,
            read_json=lambda: request.get_json(force=True, silent=True),
            max_stock_batch=runtime.max_stock_batch,
            bulk_caps=runtime.bulk_caps,
            usage=runtime.usage,
            key_label=key_label(api_key),
            on_state_change=lambda order: note_state_change(
                runtime.changes, runtime.webhooks, state, order, "api", at=now
            ),
            echo_check=runtime.webhooks.echo_check,
        )
        try:
            with state.lock:
                response = handler(call)
        except SandboxError as exc:
            response = failure(exc.status, exc.code, exc.message)
        except (ValueError, TypeError) as exc:
            # A body of the right JSON kind but with values of the wrong type (a text
            # quantity, an address given as a string) is the caller's mistake, not a 500.
            response = failure(400, ErrorCode.INVALID_DATA, f"Malformed request data: {exc}")
        else:
            if operation.method != "GET":
                runtime.store.save()
        return _after(runtime, account, fault, response)

    view.__name__ = operation.name.replace(".", "_")
    return view
