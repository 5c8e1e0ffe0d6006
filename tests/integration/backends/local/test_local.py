"""The local backend against real binaries: each service, caching, stopping, leftovers."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from integration_kit.config import Settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.base import KafkaService, PostgresService, RedisService
from integration_kit.services.ownership import pid_alive

pytestmark = pytest.mark.integration

Require = Callable[[str], None]


def _uid_of(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("Uid:"):
            return int(line.split()[1])
    raise AssertionError("no Uid line")


def test_postgres_serves_sql_and_stops_cleanly(local: LocalBackend, require_local: Require) -> None:
    require_local("postgres")
    import asyncpg

    service = local.start(PostgresService(), timeout=60)
    pid, directory = service.pid, service.service_dir.path
    try:
        assert service.endpoint.user == "test" and service.endpoint.database == "test"

        async def roundtrip() -> list[str]:
            conn = await asyncpg.connect(service.endpoint.dsn)
            try:
                await conn.execute("CREATE TABLE t (v text)")
                await conn.execute("INSERT INTO t VALUES ('a'), ('b')")
                settings = {
                    name: await conn.fetchval(f"SHOW {name}")
                    for name in ("fsync", "synchronous_commit", "full_page_writes")
                }
                assert settings == {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
                return [r["v"] for r in await conn.fetch("SELECT v FROM t ORDER BY v")]
            finally:
                await conn.close()

        assert asyncio.run(roundtrip()) == ["a", "b"]
        if os.geteuid() == 0:
            assert _uid_of(pid) != 0, "postgres must not run as root"
    finally:
        service.stop()
    assert not pid_alive(pid)
    assert not directory.exists()


def test_postgres_restarts_from_the_cached_data_directory(
    local_settings: Settings, tmp_path: Path, require_local: Require
) -> None:
    require_local("postgres")
    backend = LocalBackend(local_settings.replace(cache_dir=tmp_path / "cache"))
    first = backend.start(PostgresService(database="cached"), timeout=60)
    first.stop()
    backend.wait_background()
    assert first.data_source == "initdb"
    assert list((tmp_path / "cache" / "local").glob("postgres-*/PG_VERSION"))
    second = backend.start(PostgresService(database="cached"), timeout=60)
    try:
        assert second.data_source in {"spare", "cache"}
        # The cached cluster is a clean copy: nothing of the first run's server survives.
        assert second.endpoint.port != 0
    finally:
        second.stop()
        backend.wait_background()


def test_redis_runs_without_persistence(local: LocalBackend, require_local: Require) -> None:
    require_local("redis")
    import redis

    service = local.start(RedisService(), timeout=30)
    pid = service.pid
    try:
        client = redis.Redis(host=service.endpoint.host, port=service.endpoint.port)
        client.set("k", "v")
        assert client.get("k") == b"v"
        assert client.config_get("save")["save"] == ""
        assert client.config_get("appendonly")["appendonly"] == "no"
        client.close()
    finally:
        service.stop()
    assert not pid_alive(pid)


def test_kafka_round_trip(local: LocalBackend, require_local: Require) -> None:
    require_local("kafka")
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    service = local.start(KafkaService(), timeout=60)
    pid = service.pid
    servers = service.endpoint.bootstrap_servers

    async def roundtrip() -> list[bytes]:
        admin = AIOKafkaAdminClient(bootstrap_servers=servers)
        await admin.start()
        try:  # the kit's brokers never auto-create topics
            await admin.create_topics([NewTopic("ik-local-roundtrip", 1, 1)])
        finally:
            await admin.close()
        producer = AIOKafkaProducer(bootstrap_servers=servers)
        await producer.start()
        try:
            await producer.send_and_wait("ik-local-roundtrip", b"hello")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "ik-local-roundtrip",
            bootstrap_servers=servers,
            group_id="ik-local-roundtrip",
            auto_offset_reset="earliest",
        )
        await consumer.start()
        try:
            record = await asyncio.wait_for(consumer.getone(), 30)
            return [record.value]
        finally:
            await consumer.stop()

    try:
        assert asyncio.run(roundtrip()) == [b"hello"]
    finally:
        service.stop()
    assert not pid_alive(pid)


def test_kafka_broker_that_exits_fails_fast_with_its_log(local: LocalBackend, require_local: Require) -> None:
    require_local("kafka")
    spec = KafkaService(broker_config={"num.io.threads": "not-a-number"})
    with raises_code(ErrorCode.SVC_PROCESS_EXITED) as caught:
        local.start(spec, timeout=60)
    assert "num.io.threads" in (caught[0].log_tail or "")
    assert not list((local.root / "services").iterdir())


# --- stopping on exit and signals, and leftovers of killed runs ---------------------------

_CHILD = textwrap.dedent(
    """
    import json, os, signal, sys, time
    # As in a terminal: a runner started in the background may have left SIGINT ignored.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from integration_kit.config import load_settings
    from integration_kit.services.backends.local import LocalBackend
    from integration_kit.services.base import PostgresService, RedisService

    backend = LocalBackend(load_settings(runtime_dir=sys.argv[1]))
    services = [backend.start(RedisService(), timeout=30)]
    if sys.argv[2] == "both":
        services.append(backend.start(PostgresService(), timeout=60))
    print(json.dumps([[s.pid, str(s.service_dir.path)] for s in services]), flush=True)
    if sys.argv[3] == "kill-self":
        os.kill(os.getpid(), signal.SIGKILL)
    time.sleep(120)
    """
)


def _child(runtime_dir: Path, which: str, mode: str) -> tuple[subprocess.Popen[str], list[list]]:
    process = subprocess.Popen(
        [sys.executable, "-c", _CHILD, str(runtime_dir), which, mode],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line, "the child printed nothing"
    return process, json.loads(line)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_servers_stop_when_the_test_process_gets_a_signal(
    runtime_dir: Path, require_local: Require, signum: int
) -> None:
    require_local("postgres")
    require_local("redis")
    process, started = _child(runtime_dir, "both", "wait")
    assert all(pid_alive(pid) for pid, _ in started)
    process.send_signal(signum)
    process.wait(timeout=30)
    for pid, directory in started:
        assert not pid_alive(pid)
        assert not Path(directory).exists()


def test_stale_pid_file_of_a_killed_run_is_cleaned_at_the_next_start(
    runtime_dir: Path, local_settings: Settings, require_local: Require, caplog: pytest.LogCaptureFixture
) -> None:
    require_local("redis")
    process, started = _child(runtime_dir, "redis", "kill-self")
    process.wait(timeout=30)
    ((pid, directory),) = started
    assert pid_alive(pid), "a SIGKILLed owner leaves its server running"
    backend = LocalBackend(local_settings)
    with caplog.at_level(logging.WARNING, logger="integration_kit.local"):
        service = backend.start(RedisService(), timeout=30)
    service.stop()
    assert ErrorCode.LOCAL_STALE_PIDFILE.value in caplog.text
    deadline = time.monotonic() + 10
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not pid_alive(pid)
    assert not Path(directory).exists()


def test_stale_pid_file_that_cannot_be_removed_is_a_coded_error(
    runtime_dir: Path, local_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from integration_kit.services import runtime as _runtime

    stale = runtime_dir / "services" / "redis-stale"
    stale.mkdir(parents=True)
    dead = subprocess.Popen(["true"])
    dead.wait()
    (stale / _runtime.PIDFILE).write_text(json.dumps({"pid": dead.pid, "owner_pid": dead.pid}))
    monkeypatch.setattr(_runtime.ServiceDir, "remove", lambda self: None)
    with raises_code(ErrorCode.LOCAL_STALE_PIDFILE) as caught:
        LocalBackend(local_settings).reap()
    assert str(stale) in str(caught[0].context["path"])


# --- binaries that are not there ----------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "binary", "install"),
    [
        (PostgresService(), "initdb/postgres", "postgresql"),
        (RedisService(), "redis-server", "redis"),
    ],
)
def test_binary_not_found_names_where_it_looked_and_what_to_install(
    local_settings: Settings, tmp_path: Path, spec: object, binary: str, install: str
) -> None:
    backend = LocalBackend(local_settings, search_path=[tmp_path / "bin"])
    with raises_code(ErrorCode.LOCAL_BINARY_NOT_FOUND) as caught:
        backend.start(spec, timeout=5)  # type: ignore[arg-type]
    error = caught[0]
    assert error.context["binary"] == binary
    assert str(tmp_path / "bin") in error.context["searched"]
    assert install in error.hint
    assert "INTEGRATION_KIT_LOCAL_PATH" in error.hint


def test_kafka_home_without_jars_is_binary_not_found(local_settings: Settings, tmp_path: Path) -> None:
    (tmp_path / "kafka" / "libs").mkdir(parents=True)
    backend = LocalBackend(local_settings.replace(kafka_home=str(tmp_path / "kafka")), search_path=[])
    with raises_code(ErrorCode.LOCAL_BINARY_NOT_FOUND) as caught:
        backend.start(KafkaService(), timeout=5)
    assert str(tmp_path / "kafka" / "libs") in caught[0].context["searched"]
    assert "INTEGRATION_KIT_KAFKA_HOME" in caught[0].hint


def test_background_work_leaves_exit_signals_to_the_main_thread(local: LocalBackend) -> None:
    # A helper thread that could take SIGTERM would leave the main thread asleep and the
    # servers running (Python runs handlers only in the main thread).
    masks: list[set[int]] = []
    local.in_background("mask-probe", lambda: masks.append(set(signal.pthread_sigmask(signal.SIG_BLOCK, []))))
    local.wait_background(5)
    assert masks, "the background work did not run"
    assert {signal.SIGINT, signal.SIGTERM} <= masks[0]
    assert not {signal.SIGINT, signal.SIGTERM} & set(signal.pthread_sigmask(signal.SIG_BLOCK, []))
