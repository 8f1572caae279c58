"""A tiny Billbee stand-in served over real HTTP, for the client's error paths.

The sandbox (billhive.sandbox) is the faithful emulator; this app only exists to make every
error class happen on demand (a 403, a 400 with a message, a 429 with and without
Retry-After, a 500, a slow answer ...) so each can be tested through a real socket.
"""

from __future__ import annotations

import base64
import errno
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, Response, jsonify, request
from werkzeug.serving import make_server

API_KEY = "test-api-key-6f1c"
USERNAME = "merchant@example.com"
PASSWORD = "S3cret!Passw0rd#"
ORDER_COUNT = 7


@dataclass
class Recorded:
    """One request as the fake received it."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: dict[str, str]
    body: bytes
    raw_uri: str
    remote_port: int


@dataclass
class Canned:
    """The next answer the fake gives instead of its normal one."""

    status: int
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0
    raw: bytes | None = None
    #: Send only this many bytes of the body (announcing all of it), then drop the
    #: connection: an answer cut mid-body.
    cut_after: int | None = None


class FakeBillbee:
    """State of the fake: recorded requests and an optional canned answer for all calls."""

    def __init__(self) -> None:
        self.requests: list[Recorded] = []
        self.canned: Canned | None = None
        self.lock = threading.Lock()
        self.url = ""

    def respond(
        self,
        status: int,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        raw: bytes | None = None,
        cut_after: int | None = None,
    ) -> None:
        """Answer every following request with this (until called again)."""
        self.canned = Canned(status, body, headers or {}, delay, raw, cut_after)

    @property
    def base_url(self) -> str:
        return self.url + "/api/v1"


def _authorized() -> bool:
    expected = "Basic " + base64.b64encode(f"{USERNAME}:{PASSWORD}".encode()).decode()
    return (
        request.headers.get("X-Billbee-Api-Key") == API_KEY
        and request.headers.get("Authorization") == expected
    )


def _orders_page() -> dict[str, Any]:
    page = int(request.args.get("page", 1))
    size = int(request.args.get("pageSize", 50))
    orders = [{"BillBeeOrderId": n, "OrderNumber": f"A-{n}"} for n in range(1, ORDER_COUNT + 1)]
    chunk = orders[(page - 1) * size : page * size]
    return {
        "Paging": {
            "Page": page,
            "PageSize": size,
            "TotalPages": -(-ORDER_COUNT // size),
            "TotalRows": ORDER_COUNT,
        },
        "ErrorCode": 0,
        "ErrorMessage": None,
        "Data": chunk,
    }


def _cut(canned: Canned) -> Response:
    """The canned answer with its full length announced, cut after ``cut_after`` bytes."""
    body = canned.raw if canned.raw is not None else json.dumps(canned.body).encode()
    cut_after = canned.cut_after or 0

    def chunks() -> Iterator[bytes]:
        yield body[:cut_after]
        raise ConnectionResetError(errno.ECONNRESET, "fake: connection reset mid-body")

    response = Response(chunks(), status=canned.status, headers=canned.headers)
    response.headers["Content-Length"] = str(len(body))
    response.headers.setdefault("Content-Type", "application/json")
    return response


def create_fake_app(fake: FakeBillbee) -> Flask:
    """The fake's Flask app: auth check, a paged order list, and an echo for the rest."""
    app = Flask("fake_billbee")

    @app.route("/api/v1/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
    def any_call(rest: str) -> Response | tuple[Response, int]:
        with fake.lock:
            fake.requests.append(
                Recorded(
                    request.method,
                    request.path,
                    list(request.args.items(multi=True)),
                    dict(request.headers),
                    request.get_data(),
                    str(request.environ.get("REQUEST_URI") or request.environ.get("RAW_URI")),
                    int(request.environ.get("REMOTE_PORT", 0)),
                )
            )
        canned = fake.canned
        if canned is not None:
            time.sleep(canned.delay)
            if canned.cut_after is not None:
                return _cut(canned)
            if canned.raw is not None:
                return Response(canned.raw, status=canned.status, headers=canned.headers)
            answer = jsonify(canned.body) if canned.body is not None else Response(b"")
            answer.status_code = canned.status
            answer.headers.update(canned.headers)
            return answer
        if not _authorized():
            return jsonify({"Message": "Authorization has been denied for this request."}), 401
        if request.method == "GET" and rest == "orders":
            return jsonify(_orders_page())
        return jsonify({"ErrorCode": 0, "ErrorMessage": None, "Data": {"Echo": rest}})

    return app


class ThreadedServer:
    """A WSGI app served over real HTTP on a free loopback port, in a thread.

    Like the suite's live_server_factory, but shut down with a short poll interval so a
    module-scoped server costs no half second per test.
    """

    def __init__(self, wsgi_app: Any) -> None:
        self.server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop serving and free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
