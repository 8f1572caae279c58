"""After a batch of signups, no table and no Redis key holds a plaintext credential; after
real calls for a tenant that then left, none of its end customers' data is left either."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from redis import Redis
from rq import Queue, SimpleWorker
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from billhive.config import Settings
from billhive.db import Base, Database
from billhive.sandbox import create_sandbox_app
from billhive.tenants.errors import TenantError
from billhive.tenants.models import TenantCredentials
from billhive.tenants.service import (
    SignupRequest,
    delete_tenant,
    make_verifier,
    reconnect,
    sign_up,
)
from billhive.tenants.vault import Vault
from billhive.workers.process import SYSTEM_QUEUE
from billhive.workers.verification import enqueue_verification

API_KEY = "sandbox-dump-key"
MERCHANTS = [
    (f"Shop.Owner{n}@Example-Merchant.test", f"Unique!Secret{n}x{n * 7}Zq") for n in range(1, 9)
]
FLAKY = {5, 6}  # accounts whose Billbee fails: their tenants wait for verification
REFUSED = 7  # signs up with a wrong password
NEW_PASSWORD = "Renewed!Secret#2026"


def _accounts() -> list[dict[str, Any]]:
    return [
        {"id": n, "username": username, "password": password}
        for n, (username, password) in enumerate(MERCHANTS, start=1)
    ]


def _secrets() -> list[str]:
    values = [NEW_PASSWORD]
    for username, password in MERCHANTS:
        values += [username, username.lower(), username.casefold(), password]
        values.append(base64.b64encode(f"{username}:{password}".encode()).decode())
    return values


def _variants(raw: bytes) -> Iterator[bytes]:
    """The bytes as stored, and decompressed when RQ zlib-compressed a pickled job."""
    yield raw
    try:
        yield zlib.decompress(raw)
    except zlib.error:
        return


def _forms(secret: str) -> list[bytes]:
    """A value as it could sit in a dump: plain, base64 and hex (either case)."""
    raw = secret.encode()
    return [raw, base64.b64encode(raw), raw.hex().encode(), raw.hex().upper().encode()]


def _dump_tables(database: Database) -> list[bytes]:
    blobs: list[bytes] = []
    with database.engine.connect() as conn:
        for table in Base.metadata.sorted_tables:
            for row in conn.execute(select(table)):
                for value in row:
                    blobs.append(value if isinstance(value, bytes) else str(value).encode())
    return blobs


def _dump_redis(client: Redis) -> list[bytes]:
    blobs: list[bytes] = []
    for key in client.scan_iter(count=1000):
        blobs.append(key)
        kind = client.type(key).decode()
        if kind == "string":
            blobs.append(client.get(key) or b"")
        elif kind == "hash":
            for field, value in client.hgetall(key).items():
                blobs += [field, value]
        elif kind == "list":
            blobs += client.lrange(key, 0, -1)
        elif kind == "set":
            blobs += list(client.smembers(key))
        elif kind == "zset":
            blobs += [member for member, _ in client.zrange(key, 0, -1, withscores=True)]
        elif kind == "stream":
            for _, fields in client.xrange(key):
                for field, value in fields.items():
                    blobs += [field, value]
    return blobs


@pytest.fixture
def sandbox_url(live_server_factory: Callable[[Any], Any]) -> str:
    """A sandbox knowing every merchant; the flaky ones answer every call with a 5xx."""
    app = create_sandbox_app(api_keys=[API_KEY], accounts=_accounts(), throttle=False)
    base_url = f"{live_server_factory(app).url}/api/v1"
    for account_id in FLAKY:
        httpx.put(f"{base_url}/_sandbox/accounts/{account_id}/faults", json={"error_rate": 1.0})
    return base_url


@pytest.fixture
def job_env(
    monkeypatch: pytest.MonkeyPatch,
    test_secrets: dict[str, str],
    database_url: str,
    tmp_path: Path,
    sandbox_url: str,
) -> None:
    """The environment jobs load their own settings from, as in a real worker."""
    env = {**test_secrets, "billbee_api_key": API_KEY, "billbee_base_url": sandbox_url}
    env |= {"env": "test", "database_url": database_url, "instance_path": str(tmp_path / "w")}
    for name, value in env.items():
        monkeypatch.setenv(f"BILLHIVE_{name.upper()}", value)


@pytest.fixture
def batch_signed_up(
    session: Session,
    settings_factory: Callable[..., Settings],
    redis_client: Redis,
    sandbox_url: str,
    job_env: None,
) -> None:
    """Sign up every merchant, reconnect one, delete one, and run the verification jobs."""
    settings = settings_factory(billbee_api_key=API_KEY, billbee_base_url=sandbox_url)
    vault, verify = Vault.from_settings(settings), make_verifier(settings)
    ids = []
    for n, (username, password) in enumerate(MERCHANTS, start=1):
        entered = "Wrong!Secret#0000" if n == REFUSED else password
        request = SignupRequest(f"Shop {n}", f"contact{n}@example.test", username, entered)
        try:
            tenant = sign_up(session, vault, request, verify=verify)
        except TenantError:
            continue
        ids.append(tenant.id)
        if n in FLAKY:
            enqueue_verification(redis_client, tenant.id)
    httpx.patch(f"{sandbox_url}/_sandbox/accounts/1", json={"password": NEW_PASSWORD})
    reconnect(session, vault, ids[0], NEW_PASSWORD, verify=verify)
    delete_tenant(session, ids[1], actor="merchant", reason="leaving")
    queue = Queue(SYSTEM_QUEUE, connection=redis_client)
    SimpleWorker([queue], connection=redis_client).work(burst=True)


def _leaks(dump: list[bytes], secrets: list[str] | None = None) -> list[str]:
    wanted = _secrets() if secrets is None else secrets
    variants = [v for b in dump for v in _variants(b)]
    return [s for s in wanted if any(form in v for form in _forms(s) for v in variants)]


def test_the_redis_dump_would_find_a_password_inside_a_compressed_job(
    redis_client: Redis,
) -> None:
    _, password = MERCHANTS[0]
    redis_client.hset("rq:job:planted", "data", zlib.compress(b"pickled " + password.encode()))
    assert _leaks(_dump_redis(redis_client)) == [password]


@pytest.mark.usefixtures("batch_signed_up")
def test_no_table_holds_a_plaintext_username_or_password(db: Database) -> None:
    with db.session() as session:
        stored = session.scalar(select(func.count()).select_from(TenantCredentials))
    assert stored == len(MERCHANTS) - 2  # one refused, one deleted
    dump = _dump_tables(db)
    assert _leaks(dump) == []


@pytest.mark.usefixtures("batch_signed_up")
def test_no_redis_key_holds_a_plaintext_username_or_password(redis_client: Redis) -> None:
    dump = _dump_redis(redis_client)
    assert any(b"rq:job:" in key for key in dump), "the batch enqueued no job"
    assert _leaks(dump) == []


# -- end customers' data after a tenant made real calls and left ------------------------

#: What the merchant sent about an end customer (a tag naming her).
SENT_CUSTOMER = "Walburga Kundenfrau"
SENT_EMAIL = "walburga.kundenfrau@kundin.example"


@pytest.fixture
def customer_data_then_left(
    session: Session,
    settings_factory: Callable[..., Settings],
    redis_client: Redis,
    sandbox_url: str,
    job_env: None,
) -> list[str]:
    """A merchant signs up, makes real calls through the sandbox that send and receive end
    customers' names and e-mails, then is deleted; returns that end-customer data."""
    from support.sealed import payload_of

    from billhive.workers.calls import enqueue_call
    from billhive.workers.control import purge_tenant
    from billhive.workers.models import Call
    from billhive.workers.runtime import Runtime, set_runtime
    from billhive.workers.scheduling.worker import SimpleTenantWorker

    settings = settings_factory(billbee_api_key=API_KEY, billbee_base_url=sandbox_url)
    vault = Vault.from_settings(settings)
    username, password = MERCHANTS[2]
    request = SignupRequest("Shop Dump", "dump-contact@example.test", username, password)
    tenant = sign_up(session, vault, request, verify=make_verifier(settings))
    listed = enqueue_call(
        tenant.id,
        "customers.list",
        {"page": 1, "pageSize": 5},
        session=session,
        redis=redis_client,
        vault=vault,
    )
    enqueue_call(
        tenant.id,
        "orders.add_tags",
        {"id": 1},
        body={"Tags": [SENT_CUSTOMER, SENT_EMAIL]},
        session=session,
        redis=redis_client,
        vault=vault,
    )
    runtime = Runtime.from_settings(settings)
    set_runtime(runtime)
    try:
        queue = Queue(SYSTEM_QUEUE, connection=redis_client)
        SimpleTenantWorker([queue], connection=redis_client).work(
            burst=True, logging_level="WARNING"
        )
    finally:
        set_runtime(None)
        runtime.close()
    session.expire_all()
    call = session.get(Call, listed.id)
    assert call is not None
    customers = payload_of(session, vault, call).result
    assert isinstance(customers, list) and customers, "the sandbox returned no customers"
    received = [c["Email"] for c in customers] + [c["Name"] for c in customers]
    delete_tenant(session, tenant.id, actor="merchant", reason="leaving")
    purge_tenant(session, redis_client, tenant.id)
    return [SENT_CUSTOMER, SENT_EMAIL, "dump-contact@example.test", *received]


def test_no_table_holds_end_customer_data_of_a_tenant_that_left(
    db: Database, customer_data_then_left: list[str]
) -> None:
    assert _leaks(_dump_tables(db), customer_data_then_left) == []


def test_no_redis_key_holds_end_customer_data_of_a_tenant_that_left(
    redis_client: Redis, customer_data_then_left: list[str]
) -> None:
    assert _leaks(_dump_redis(redis_client), customer_data_then_left) == []


def test_the_dump_would_find_end_customer_data_stored_as_hex(redis_client: Redis) -> None:
    redis_client.set("planted", SENT_EMAIL.encode().hex())
    assert _leaks(_dump_redis(redis_client), [SENT_EMAIL]) == [SENT_EMAIL]
