"""Callbacks cannot be turned against the platform's own network (SSRF).

Registration refuses URLs no delivery could be sent to; every send resolves the name
once, checks the addresses and connects to the one it checked; refused sends look like
any connection failure in the delivery log. The receivers here are real HTTP(S) servers
on loopback, so tests that deliver allow-list loopback as an operator would a private
endpoint; the default path (nothing allow-listed) is what the refusals run on.
"""

from __future__ import annotations

import datetime
import ipaddress
import ssl
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from flask import Flask, redirect, request
from redis import Redis
from sqlalchemy.orm import Session
from support.api import bearer
from werkzeug.serving import make_server

from billhive.config import Settings
from billhive.db import Database, utcnow
from billhive.delivery.egress import EgressPolicy, EgressRefused, is_public
from billhive.delivery.models import CallbackDelivery
from billhive.delivery.outbox import collect_finished
from billhive.delivery.send import NO_ANSWER, CallbackFailed, delivery_client, run_delivery
from billhive.platform import create_app
from billhive.tenants.models import Tenant
from billhive.workers.models import Call, CallStatus

LOOPBACK = "127.0.0.0/8"


class Receiver:
    """A live endpoint that records what reaches it (and the TLS name it was asked for)."""

    def __init__(self) -> None:
        self.received: list[dict[str, str]] = []
        self.server_names: list[str | None] = []
        self.app = Flask("receiver")
        self.app.add_url_rule("/hook", "hook", self._hook, methods=["POST"])
        self.app.add_url_rule("/moved", "moved", self._moved, methods=["POST"])
        self.redirect_to = ""

    def _hook(self) -> tuple[str, int]:
        self.received.append(dict(request.headers))
        return "", 200

    def _moved(self) -> Any:
        return redirect(self.redirect_to, code=307)


@pytest.fixture
def serve(tmp_path: Path) -> Iterator[Callable[..., tuple[Receiver, int]]]:
    """Start a receiver over http, or https with a certificate for ``cert_name``."""
    servers: list[Any] = []

    def start(cert_name: str | None = None) -> tuple[Receiver, int]:
        receiver = Receiver()
        context = None
        if cert_name is not None:
            context = _server_context(tmp_path, cert_name, receiver)
        server = make_server("127.0.0.1", 0, receiver.app, threaded=True, ssl_context=context)
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        servers.append((server, thread))
        return receiver, server.server_port

    yield start
    for server, thread in servers:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def _certificate(name: str) -> tuple[bytes, bytes]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


CERTS: dict[str, bytes] = {}


def _server_context(tmp_path: Path, name: str, receiver: Receiver) -> ssl.SSLContext:
    cert, key = _certificate(name)
    CERTS[name] = cert
    (tmp_path / f"{name}.pem").write_bytes(cert)
    (tmp_path / f"{name}.key").write_bytes(key)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / f"{name}.pem", tmp_path / f"{name}.key")

    def remember(_sock: Any, server_name: str | None, _ctx: Any) -> None:
        receiver.server_names.append(server_name)

    context.sni_callback = remember
    return context


def _trusting(name: str) -> ssl.SSLContext:
    return ssl.create_default_context(cadata=CERTS[name].decode())


class Resolver:
    """Stands in for DNS: answers the given address lists in turn, counting lookups."""

    def __init__(self, *answers: list[str]) -> None:
        self.answers = list(answers)
        self.lookups: list[str] = []

    def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        return self.answers[min(len(self.lookups), len(self.answers)) - 1]


@pytest.fixture
def allow_loopback(settings_factory: Callable[..., Settings], db: Any) -> Settings:
    """Settings with loopback allow-listed, as for a private receiver."""
    return settings_factory(callback_allowed_networks=LOOPBACK)


def _register(client: Any, token: str, url: str) -> Any:
    return client.put("/api/v1/callback", json={"url": url}, headers=bearer(token))


def _finished_delivery(
    client: Any, token: str, tenant: Tenant, session: Session, redis: Redis
) -> int:
    call_id = client.post(
        f"/api/v1/tenants/{tenant.id}/calls",
        json={"operation": "orders.list"},
        headers=bearer(token),
    ).json["id"]
    call = session.get(Call, call_id)
    assert call is not None
    call.status, call.attempts, call.finished_at = CallStatus.SUCCEEDED, 1, utcnow()
    session.commit()  # final: the calls table is the outbox the collector reads
    (delivery_id,) = collect_finished(session, redis)
    return delivery_id


def _logged(client: Any, token: str, delivery_id: int) -> dict[str, Any]:
    items = client.get("/api/v1/callback/deliveries", headers=bearer(token)).json["items"]
    found: dict[str, Any] = next(i for i in items if i["id"] == delivery_id)
    return found


# -- which addresses are public --------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address under test, nothing binds to it
        "255.255.255.255",
        "224.0.0.1",
        "192.0.0.8",
        "198.18.0.1",
        "::1",
        "::",
        "fe80::1",
        "fd00:ec2::254",
        "fc00::1",
        "ff02::1",
        "2001:db8::1",
        "::ffff:127.0.0.1",
        "::ffff:10.0.0.1",
        "::127.0.0.1",
        "64:ff9b::7f00:1",
        "64:ff9b::a00:1",
        "2002:7f00:1::",
        "2002:a9fe:a9fe::",
    ],
)
def test_internal_addresses_are_not_public(address: str) -> None:
    assert not is_public(ipaddress.ip_address(address))


@pytest.mark.parametrize(
    "address", ["93.184.216.34", "8.8.8.8", "2606:4700:4700::1111", "::ffff:93.184.216.34"]
)
def test_globally_routable_addresses_are_public(address: str) -> None:
    assert is_public(ipaddress.ip_address(address))


# -- registration ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:6379/",
        "https://127.0.0.1/hook",
        "http://10.0.0.5/hook",
        "http://172.16.0.1/hook",
        "http://192.168.1.1/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://100.64.0.1/hook",
        "http://0.0.0.0:5432/",
        "http://[::1]/hook",
        "http://[::ffff:127.0.0.1]/hook",
        "http://[::ffff:7f00:1]/hook",
        "http://[fd00:ec2::254]/latest/",
        "http://[fe80::1]/hook",
        "http://[64:ff9b::7f00:1]/hook",
        "http://[2002:7f00:1::]/hook",
        "http://0x7f.1/hook",
        "http://0x7f000001/hook",
        "http://2130706433/hook",
        "http://017700000001/hook",
        "http://127.1/hook",
        "http://localhost:8000/admin",
        "http://LOCALHOST./hook",
        "https://api.localhost/hook",
        "http://redis:6379/",
        "http://postgres/",
    ],
)
def test_registering_a_callback_to_an_internal_address_is_refused(
    api: Callable[..., Any], url: str, db: Any
) -> None:
    response = api("PUT", "/api/v1/callback", json={"url": url})
    assert response.status_code == 422, url
    assert response.json["error"]["field"] == "url"
    assert api("GET", "/api/v1/callback").status_code == 404


@pytest.mark.parametrize(
    "url",
    ["https://erp.example/hooks/billhive", "https://93.184.216.34/hook", "http://erp.example/"],
)
def test_public_or_not_yet_resolvable_callbacks_are_accepted(
    api: Callable[..., Any], url: str, db: Any
) -> None:
    assert api("PUT", "/api/v1/callback", json={"url": url}).status_code == 200


@pytest.mark.parametrize(
    "answer", [["10.1.2.3"], ["127.0.0.1"], ["93.184.216.34", "169.254.169.254"], ["::1"]]
)
def test_a_name_resolving_to_an_internal_address_is_refused(answer: list[str]) -> None:
    with pytest.raises(EgressRefused, match="not a public address"):
        EgressPolicy().check_registration("https://hooks.example/", Resolver(answer))


def test_a_name_resolving_into_an_allow_listed_network_is_accepted() -> None:
    policy = EgressPolicy(allowed_networks=(ipaddress.ip_network("10.8.0.0/16"),))
    policy.check_registration("http://erp.internal.example:8080/", Resolver(["10.8.3.4"]))
    with pytest.raises(EgressRefused):
        policy.check_registration("http://erp.internal.example:8080/", Resolver(["10.9.3.4"]))


def test_production_needs_https_unless_the_receiver_is_allow_listed(
    settings_factory: Callable[..., Settings],
    production_settings: Settings,
    make_token: Callable[..., str],
) -> None:
    token = make_token()
    public = create_app(production_settings).test_client()
    refused = _register(public, token, "http://erp.example/hook")
    assert refused.status_code == 422
    assert "https" in refused.json["error"]["message"]
    assert _register(public, token, "https://erp.example/hook").status_code == 200
    private = production_settings.model_copy(update={"callback_allowed_networks": "10.8.0.0/16"})
    allowed = create_app(private).test_client()
    assert _register(allowed, token, "http://10.8.0.7:8080/hook").status_code == 200
    assert _register(allowed, token, "http://10.9.0.7:8080/hook").status_code == 422


# -- sending ---------------------------------------------------------------------------


def test_a_send_to_an_address_no_longer_allowed_looks_like_a_closed_port(
    allow_loopback: Settings,
    settings_factory: Callable[..., Settings],
    make_token: Callable[..., str],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    database: Database,
    serve: Callable[..., tuple[Receiver, int]],
) -> None:
    receiver, port = serve()
    client, token = create_app(allow_loopback).test_client(), make_token()
    assert _register(client, token, f"http://127.0.0.1:{port}/hook").status_code == 200
    refused = _finished_delivery(client, token, tenant, session, redis_client)
    # The operator removes loopback from the allow-list: the registered URL stays.
    with pytest.raises(CallbackFailed):
        run_delivery(settings_factory(), database, refused)
    assert receiver.received == []

    closed_port = port + 1 if port < 65535 else port - 1
    assert _register(client, token, f"http://127.0.0.1:{closed_port}/hook").status_code == 200
    closed = _finished_delivery(client, token, tenant, session, redis_client)
    with pytest.raises(CallbackFailed):
        run_delivery(allow_loopback, database, closed)

    fields = ("status", "attempts", "last_http_status", "last_error")
    refused_entry, closed_entry = _logged(client, token, refused), _logged(client, token, closed)
    assert [refused_entry[f] for f in fields] == [closed_entry[f] for f in fields]
    assert refused_entry["last_error"] == NO_ANSWER


def test_a_send_connects_to_the_address_it_checked_without_a_second_lookup(
    allow_loopback: Settings,
    make_token: Callable[..., str],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    database: Database,
    serve: Callable[..., tuple[Receiver, int]],
) -> None:
    receiver, port = serve()
    client, token = create_app(allow_loopback).test_client(), make_token()
    assert _register(client, token, f"http://hooks.example:{port}/hook").status_code == 200
    delivery = _finished_delivery(client, token, tenant, session, redis_client)
    # A rebinding DNS server: the checked answer first, an internal one afterwards.
    dns = Resolver(["127.0.0.1"], ["10.0.0.9"], ["10.0.0.9"])
    with delivery_client(allow_loopback, resolver=dns) as http:
        assert run_delivery(allow_loopback, database, delivery, http) == "delivered"
    assert dns.lookups == ["hooks.example"]
    assert receiver.received[0]["Host"] == f"hooks.example:{port}"


def test_a_name_that_resolves_to_an_internal_address_at_send_time_is_not_called(
    allow_loopback: Settings,
    make_token: Callable[..., str],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    database: Database,
) -> None:
    client, token = create_app(allow_loopback).test_client(), make_token()
    assert _register(client, token, "https://hooks.example/hook").status_code == 200
    delivery = _finished_delivery(client, token, tenant, session, redis_client)
    dns = Resolver(["169.254.169.254"])
    with delivery_client(allow_loopback, resolver=dns) as http, pytest.raises(CallbackFailed):
        run_delivery(allow_loopback, database, delivery, http)
    row = session.get(CallbackDelivery, delivery)
    session.refresh(row)
    assert row is not None and row.last_error == NO_ANSWER and row.last_http_status is None


def test_https_is_checked_against_the_name_while_connecting_to_the_checked_address(
    allow_loopback: Settings,
    make_token: Callable[..., str],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    database: Database,
    serve: Callable[..., tuple[Receiver, int]],
) -> None:
    receiver, port = serve(cert_name="hooks.example")
    client, token = create_app(allow_loopback).test_client(), make_token()
    assert _register(client, token, f"https://hooks.example:{port}/hook").status_code == 200
    delivery = _finished_delivery(client, token, tenant, session, redis_client)
    dns = Resolver(["127.0.0.1"])
    with delivery_client(allow_loopback, resolver=dns, verify=_trusting("hooks.example")) as http:
        assert run_delivery(allow_loopback, database, delivery, http) == "delivered"
    assert receiver.server_names == ["hooks.example"]
    assert receiver.received[0]["Host"] == f"hooks.example:{port}"


def test_a_certificate_for_another_name_is_refused(
    allow_loopback: Settings,
    make_token: Callable[..., str],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    database: Database,
    serve: Callable[..., tuple[Receiver, int]],
) -> None:
    receiver, port = serve(cert_name="other.example")
    client, token = create_app(allow_loopback).test_client(), make_token()
    assert _register(client, token, f"https://hooks.example:{port}/hook").status_code == 200
    delivery = _finished_delivery(client, token, tenant, session, redis_client)
    dns = Resolver(["127.0.0.1"])
    with (
        delivery_client(allow_loopback, resolver=dns, verify=_trusting("other.example")) as http,
        pytest.raises(CallbackFailed),
    ):
        run_delivery(allow_loopback, database, delivery, http)
    assert receiver.received == []


def test_redirects_are_not_followed(
    allow_loopback: Settings,
    make_token: Callable[..., str],
    tenant: Tenant,
    session: Session,
    redis_client: Redis,
    database: Database,
    serve: Callable[..., tuple[Receiver, int]],
) -> None:
    mover, mover_port = serve()
    target, target_port = serve()
    mover.redirect_to = f"http://127.0.0.1:{target_port}/hook"
    client, token = create_app(allow_loopback).test_client(), make_token()
    assert _register(client, token, f"http://127.0.0.1:{mover_port}/moved").status_code == 200
    delivery = _finished_delivery(client, token, tenant, session, redis_client)
    with pytest.raises(CallbackFailed):
        run_delivery(allow_loopback, database, delivery)
    assert target.received == []
    assert _logged(client, token, delivery)["last_http_status"] == 307
