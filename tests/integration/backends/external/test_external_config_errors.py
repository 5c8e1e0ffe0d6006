"""Configuration errors on the external backend, against real servers this module starts.

A wrong password, an unknown user or database and a port that speaks another protocol are
configuration errors: the first attempt fails with its own code (``IK-EXTERNAL-AUTH-FAILED``,
``-UNKNOWN-DATABASE``, ``-WRONG-PROTOCOL``), not the start timeout's ``-UNREACHABLE``; no
credential shows in the error or its chain; no ``RuntimeError: no running event loop``.

The servers: PostgreSQL 15 and Kafka from the kit's local backend (PostgreSQL switched to
password authentication for one role through its ``pg_hba.conf``), Redis 7 run from its
binary with ``requirepass`` and an ACL user, and a plain HTTP server. The start timeout is
30 s; "fails fast" is asserted as one driver attempt and an error well before the timeout.
"""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import shutil
import socket
import subprocess
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import redis

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, IntegrationKitError, raises_code
from integration_kit.services import readiness
from integration_kit.services.backends.external import ExternalBackend, checks
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.base import KafkaService, PostgresService, RedisService, ServiceSpec
from integration_kit.services.ports import free_port

pytestmark = pytest.mark.integration

TIMEOUT = 30.0  # the start timeout of every case: a configuration error must not wait it out
FAST = 10.0  # "well under the timeout": generous for a loaded machine, far below 30 s
PG_PASSWORD = "Pg-s3cret-Zq9"
REDIS_PASSWORD = "Rd-s3cret-Xw7"
ALICE_PASSWORD = "Al-s3cret-Kp4"
SECRETS = (PG_PASSWORD, REDIS_PASSWORD, ALICE_PASSWORD, "wrong-Pw-Yv3")
SETTING = {"postgres": "postgres_url", "redis": "redis_url", "kafka": "kafka_bootstrap_servers"}
SPECS: dict[str, ServiceSpec] = {
    "postgres": PostgresService(),
    "redis": RedisService(),
    "kafka": KafkaService(),
}


# --- the servers ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def local_backend() -> Iterator[LocalBackend]:
    runtime = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"ik-cfgerr-{uuid.uuid4().hex[:8]}"
    backend = LocalBackend(load_settings(backend="local", runtime_dir=runtime, start_timeout=120))
    yield backend
    backend.close()
    backend.wait_background()
    shutil.rmtree(runtime, ignore_errors=True)


def _start_or_skip(backend: LocalBackend, spec: ServiceSpec) -> Any:
    ok, why = backend.can_run(spec)
    if not ok:
        pytest.skip(f"local {spec.kind} not installed here: {why}")
    return backend.start(spec, timeout=120)


@pytest.fixture(scope="module")
def postgres(local_backend: LocalBackend) -> Iterator[tuple[str, int]]:
    """PostgreSQL 15 whose role ``ik_pw`` must log in with a password (scram-sha-256)."""
    service = _start_or_skip(local_backend, PostgresService(name="cfgerr-postgres"))
    endpoint = service.endpoint

    async def require_passwords() -> None:
        conn = await asyncpg.connect(endpoint.dsn)
        try:
            await conn.execute(f"CREATE ROLE ik_pw LOGIN PASSWORD '{PG_PASSWORD}'")
            data = Path(await conn.fetchval("SHOW data_directory"))
            rules = [f"host all ik_pw {net} scram-sha-256" for net in ("127.0.0.1/32", "::1/128")]
            rules += [f"host all all {net} trust" for net in ("127.0.0.1/32", "::1/128")] + [
                "local all all trust"
            ]
            (data / "pg_hba.conf").write_text("\n".join(rules) + "\n")
            await conn.execute("SELECT pg_reload_conf()")
        finally:
            await conn.close()

    asyncio.run(require_passwords())
    yield endpoint.host, endpoint.port
    service.stop()


@pytest.fixture(scope="module")
def kafka_listeners(local_backend: LocalBackend) -> Iterator[dict[str, tuple[str, int]]]:
    """One Kafka node with a PLAINTEXT listener (the kit's) and a SASL_PLAINTEXT one that
    takes PLAIN and SCRAM-SHA-256 logins."""
    port, controller, sasl = free_port(), free_port(), free_port()
    host = "127.0.0.1"
    jaas = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_app="App-s3cret-Hn2";'
    broker_config = {
        "listeners": f"PLAINTEXT://{host}:{port},CONTROLLER://{host}:{controller},SASL_PLAINTEXT://{host}:{sasl}",
        "advertised.listeners": f"PLAINTEXT://{host}:{port},SASL_PLAINTEXT://{host}:{sasl}",
        "controller.quorum.voters": f"1@{host}:{controller}",
        "listener.security.protocol.map": (
            "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT"
        ),
        "sasl.enabled.mechanisms": "PLAIN,SCRAM-SHA-256",
        "listener.name.sasl_plaintext.plain.sasl.jaas.config": jaas,
        "listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config": (
            "org.apache.kafka.common.security.scram.ScramLoginModule required;"
        ),
    }
    service = _start_or_skip(
        local_backend, KafkaService(name="cfgerr-kafka", port=port, broker_config=broker_config)
    )
    yield {"plaintext": (host, port), "sasl": (host, sasl)}
    service.stop()


@pytest.fixture(scope="module")
def kafka(kafka_listeners: dict[str, tuple[str, int]]) -> tuple[str, int]:
    return kafka_listeners["plaintext"]


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """Redis 7 from its binary: ``requirepass`` for the default user, ACL user ``alice``."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = free_port()
    workdir = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--requirepass",
            REDIS_PASSWORD,
            "--dir",
            str(workdir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        client = redis.Redis(host="127.0.0.1", port=port, password=REDIS_PASSWORD)
        for _ in range(200):
            with contextlib.suppress(redis.ConnectionError):
                client.ping()
                break
            time.sleep(0.05)
        client.acl_setuser(
            "alice", enabled=True, passwords=[f"+{ALICE_PASSWORD}"], keys=["*"], commands=["+@all"]
        )
        client.close()
        yield "127.0.0.1", port
    finally:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def http_server() -> Iterator[tuple[str, int]]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), http.server.SimpleHTTPRequestHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield "127.0.0.1", server.server_address[1]
    server.shutdown()
    server.server_close()


# --- helpers --------------------------------------------------------------------------------


@pytest.fixture
def attempts(monkeypatch: pytest.MonkeyPatch) -> dict[str, int]:
    """How many times each driver check ran (a configuration error: once)."""
    counted: dict[str, int] = {}
    for kind, check in dict(checks.CHECKS).items():

        def counting(
            endpoint: Any, timeout: float, _kind: str = kind, _check: Callable[..., Any] = check
        ) -> Any:
            counted[_kind] = counted.get(_kind, 0) + 1
            return _check(endpoint, timeout)

        monkeypatch.setitem(checks.CHECKS, kind, counting)  # type: ignore[arg-type]
    return counted


def _start(kind: str, url: str, code: ErrorCode) -> tuple[IntegrationKitError, float]:
    backend = ExternalBackend(load_settings(**{SETTING[kind]: url}))
    started = time.monotonic()
    with raises_code(code) as caught:
        backend.start(SPECS[kind], timeout=TIMEOUT)
    return caught[0], time.monotonic() - started


def _chain(error: BaseException) -> list[BaseException]:
    found, seen = [], set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        found.append(current)
        current = current.__cause__ or current.__context__
    return found


def _assert_clean(error: IntegrationKitError, elapsed: float) -> None:
    """Fast, no credential anywhere in what a user sees, no stray loop error in the chain."""
    assert elapsed < FAST, f"a configuration error waited {elapsed:.1f}s of the {TIMEOUT:.0f}s timeout"
    shown = "".join(traceback.format_exception(error))
    for secret in SECRETS:
        assert secret not in shown
    assert not any(
        isinstance(e, RuntimeError) and "no running event loop" in str(e) for e in _chain(error)
    ), shown


# --- PostgreSQL -----------------------------------------------------------------------------


def test_postgres_with_the_right_password_starts(postgres: tuple[str, int]) -> None:
    """The control: the server does accept the role with its password."""
    host, port = postgres
    backend = ExternalBackend(
        load_settings(postgres_url=f"postgresql://ik_pw:{PG_PASSWORD}@{host}:{port}/postgres")
    )
    assert backend.start(PostgresService(), timeout=TIMEOUT).version.split(".")[0] == "15"


@pytest.mark.parametrize(
    "credentials",
    ["ik_pw:wrong-Pw-Yv3", "ik_pw", "nobody:wrong-Pw-Yv3"],
    ids=["wrong-password", "no-password", "unknown-user"],
)
def test_postgres_login_refused_is_not_retried(
    postgres: tuple[str, int], attempts: dict[str, int], credentials: str
) -> None:
    host, port = postgres
    error, elapsed = _start(
        "postgres", f"postgresql://{credentials}@{host}:{port}/postgres", ErrorCode.EXTERNAL_AUTH_FAILED
    )
    assert attempts == {"postgres": 1}
    assert "INTEGRATION_KIT_POSTGRES_URL" in error.hint
    _assert_clean(error, elapsed)


def test_postgres_unknown_database_is_not_retried(
    postgres: tuple[str, int], attempts: dict[str, int]
) -> None:
    host, port = postgres
    url = f"postgresql://ik_pw:{PG_PASSWORD}@{host}:{port}/no_such_database"
    error, elapsed = _start("postgres", url, ErrorCode.EXTERNAL_UNKNOWN_DATABASE)
    assert attempts == {"postgres": 1}
    assert error.context["database"] == "no_such_database"
    _assert_clean(error, elapsed)


# --- Redis ----------------------------------------------------------------------------------


def _connections(port: int) -> int:
    with redis.Redis(host="127.0.0.1", port=port, password=REDIS_PASSWORD) as admin:
        return int(admin.info("stats")["total_connections_received"])


def test_redis_with_the_right_password_starts(redis_server: tuple[str, int]) -> None:
    host, port = redis_server
    backend = ExternalBackend(load_settings(redis_url=f"redis://:{REDIS_PASSWORD}@{host}:{port}/3"))
    assert backend.start(RedisService(), timeout=TIMEOUT).version.startswith("7.")


@pytest.mark.parametrize(
    "credentials",
    ["", ":wrong-Pw-Yv3@", "alice:wrong-Pw-Yv3@", f"nobody:{ALICE_PASSWORD}@"],
    ids=["NOAUTH", "WRONGPASS-default-user", "WRONGPASS-acl-user", "unknown-acl-user"],
)
def test_redis_login_refused_is_not_retried(
    redis_server: tuple[str, int], attempts: dict[str, int], credentials: str
) -> None:
    host, port = redis_server
    before = _connections(port)
    error, elapsed = _start("redis", f"redis://{credentials}{host}:{port}/0", ErrorCode.EXTERNAL_AUTH_FAILED)
    assert attempts == {"redis": 1}
    # one connection by the check, one by _connections itself: the check did not reconnect
    assert _connections(port) - before == 2
    _assert_clean(error, elapsed)


def test_redis_database_out_of_range_is_not_retried(
    redis_server: tuple[str, int], attempts: dict[str, int]
) -> None:
    host, port = redis_server
    error, elapsed = _start(
        "redis", f"redis://alice:{ALICE_PASSWORD}@{host}:{port}/99", ErrorCode.EXTERNAL_UNKNOWN_DATABASE
    )
    assert attempts == {"redis": 1}
    assert error.context["database"] == "99"
    _assert_clean(error, elapsed)


# --- a port of another protocol -------------------------------------------------------------

_URL = {
    "postgres": "postgresql://ik_pw:wrong-Pw-Yv3@{host}:{port}/postgres",
    "redis": "redis://:wrong-Pw-Yv3@{host}:{port}/0",
    "kafka": "{host}:{port}",
}
_ANSWERS_LIKE = {
    "postgres": "a PostgreSQL server",
    "redis": "a Redis server",
    "kafka": "a Kafka broker",
    "http": "an HTTP server",
}


@pytest.mark.parametrize(
    ("kind", "actual"),
    [
        ("kafka", "postgres"),
        ("kafka", "redis"),
        ("kafka", "http"),
        ("redis", "postgres"),
        ("redis", "kafka"),
        ("redis", "http"),
        ("postgres", "redis"),
        ("postgres", "kafka"),
        ("postgres", "http"),
    ],
)
def test_a_port_of_another_protocol_is_named_at_once(
    request: pytest.FixtureRequest, attempts: dict[str, int], kind: str, actual: str
) -> None:
    fixture = {"postgres": "postgres", "redis": "redis_server", "kafka": "kafka", "http": "http_server"}[
        actual
    ]
    host, port = request.getfixturevalue(fixture)
    error, elapsed = _start(kind, _URL[kind].format(host=host, port=port), ErrorCode.EXTERNAL_WRONG_PROTOCOL)
    assert attempts == {kind: 1}
    assert error.context["actual"] == _ANSWERS_LIKE[actual]
    assert f"is not {_ANSWERS_LIKE[kind]}" in str(error)  # "... is not a Kafka broker"
    assert error.context["address"] == f"{host}:{port}"
    _assert_clean(error, elapsed)


def test_a_kafka_listener_that_requires_sasl_is_named_at_once(
    attempts: dict[str, int], kafka_listeners: dict[str, tuple[str, int]]
) -> None:
    host, port = kafka_listeners["sasl"]
    error, elapsed = _start("kafka", f"{host}:{port}", ErrorCode.EXTERNAL_SASL_REQUIRED)
    assert attempts == {"kafka": 1}
    assert error.context["address"] == f"{host}:{port}"
    assert error.context["mechanisms"] == "PLAIN, SCRAM-SHA-256"  # the listener's own list
    assert "App-s3cret-Hn2" not in "".join(traceback.format_exception(error))
    _assert_clean(error, elapsed)
    # The same broker's PLAINTEXT listener needs no SASL: the probe does not cry wolf.
    assert readiness.kafka_sasl_mechanisms(*kafka_listeners["plaintext"]) is None
    assert readiness.kafka_sasl_mechanisms(host, port) == ["PLAIN", "SCRAM-SHA-256"]


def test_a_silent_port_is_not_taken_for_a_configuration_error() -> None:
    """Not every failure is a configuration error: a port that accepts and says nothing may
    be a server still starting, so the start waits for its (here short) timeout."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        backend = ExternalBackend(load_settings(kafka_bootstrap_servers=f"127.0.0.1:{port}"))
        started = time.monotonic()
        with raises_code(ErrorCode.EXTERNAL_UNREACHABLE):
            backend.start(KafkaService(), timeout=3.0)
    assert time.monotonic() - started >= 2.5
