"""The docker backend against the locally built images: each service really works."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator

import pytest

from integration_kit.services import ownership
from integration_kit.services.backends.docker import DockerBackend, DockerRunning
from integration_kit.services.base import KafkaService, PostgresService, RedisService
from integration_kit.services.ownership import Owner

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _start(backend: DockerBackend, spec: object) -> Iterator[DockerRunning]:
    running = backend.start(spec, timeout=backend.settings.start_timeout)  # type: ignore[arg-type]
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def postgres(docker_backend: DockerBackend) -> Iterator[DockerRunning]:
    yield from _start(docker_backend, PostgresService(user="ik", password="secret", database="shop"))


@pytest.fixture(scope="module")
def redis_service(docker_backend: DockerBackend) -> Iterator[DockerRunning]:
    yield from _start(docker_backend, RedisService())


@pytest.fixture(scope="module")
def kafka(docker_backend: DockerBackend) -> Iterator[DockerRunning]:
    yield from _start(docker_backend, KafkaService())


async def test_postgres_container_serves_queries(postgres: DockerRunning) -> None:
    import asyncpg

    assert postgres.endpoint.database == "shop"
    conn = await asyncpg.connect(postgres.endpoint.dsn)
    try:
        await conn.execute("create table items (id int primary key, name text)")
        await conn.execute("insert into items values (1, 'a'), (2, 'b')")
        assert await conn.fetchval("select count(*) from items") == 2
        assert await conn.fetchval("select current_user") == "ik"
    finally:
        await conn.close()


def test_postgres_is_ready_only_after_the_final_start(postgres: DockerRunning) -> None:
    log = postgres.container.get_wrapped_container().logs().decode()
    # The official entrypoint's temporary server came and went before "ready".
    assert log.count("database system is ready to accept connections") == 2
    assert "init process complete" in log


async def test_redis_container_serves_commands(redis_service: DockerRunning) -> None:
    import redis.asyncio as aioredis

    client = aioredis.Redis.from_url(redis_service.endpoint.url)
    try:
        await client.set("ik:docker", "yes", ex=30)
        assert await client.get("ik:docker") == b"yes"
        assert 0 < await client.ttl("ik:docker") <= 30
    finally:
        await client.aclose()


async def test_kafka_container_advertises_a_reachable_listener(kafka: DockerRunning) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"ik-docker-{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka.endpoint.bootstrap_servers)
    await admin.start()
    try:  # the kit's brokers never auto-create topics
        await admin.create_topics([NewTopic(topic, 1, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=kafka.endpoint.bootstrap_servers)
    await producer.start()
    try:
        # The broker advertises the host port: metadata sends the client back to it.
        for broker in producer.client.cluster.brokers():
            assert (broker.host, broker.port) == (kafka.endpoint.host, kafka.endpoint.port)
        await producer.send_and_wait(topic, b"hello", key=b"k")
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=kafka.endpoint.bootstrap_servers,
        group_id=f"ik-docker-{uuid.uuid4().hex[:8]}",
        auto_offset_reset="earliest",
    )
    await consumer.start()
    try:
        record = await consumer.getone()
        assert (record.key, record.value) == (b"k", b"hello")
    finally:
        await consumer.stop()


def test_containers_carry_owner_labels(redis_service: DockerRunning, docker_backend: DockerBackend) -> None:
    labels = redis_service.container.get_wrapped_container().labels
    assert labels[ownership.LABEL_PID] == str(os.getpid())
    assert labels[ownership.LABEL_RUN_ID] == docker_backend.run_id
    assert labels[ownership.LABEL_VERSION]
    assert labels[ownership.LABEL_SERVICE] == "redis"
    assert ownership.owner_alive(labels)


def test_published_on_loopback_only(redis_service: DockerRunning) -> None:
    wrapped = redis_service.container.get_wrapped_container()
    wrapped.reload()
    bindings = wrapped.attrs["NetworkSettings"]["Ports"]["6379/tcp"]
    assert {binding["HostIp"] for binding in bindings} == {"127.0.0.1"}


def test_stop_removes_the_container(docker_backend: DockerBackend) -> None:
    import docker.errors

    running = docker_backend.start(RedisService(name="short-lived"), timeout=60)
    container_id = running.container_id
    running.stop()
    running.stop()  # idempotent
    with pytest.raises(docker.errors.NotFound):
        docker_backend.client().containers.get(container_id)


def test_detached_container_outlives_its_backend_until_its_handle_stops_it(
    docker_settings: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    import docker.errors

    # As under pytest-xdist: the controller (here: our parent) owns what a worker starts.
    backend = DockerBackend(docker_settings, owner=Owner.current(pid=os.getppid()))  # type: ignore[arg-type]
    running = backend.start(RedisService(name="shared"), timeout=60)
    wrapped = running.container.get_wrapped_container()
    assert wrapped.labels[ownership.LABEL_PID] == str(os.getppid())
    handle = running.detach()
    backend.close()
    running.stop()  # a no-op once detached
    wrapped.reload()
    assert wrapped.status == "running"
    backend.stop_handle(handle)
    backend.stop_handle(handle)  # idempotent
    with pytest.raises(docker.errors.NotFound):
        backend.client().containers.get(handle["container_id"])


@pytest.mark.slow  # a JVM records its class archive: tens of seconds
def test_kafka_class_cache_is_recorded_once_then_reused(docker_settings: object, tmp_path: object) -> None:
    settings = docker_settings.replace(cache_dir=tmp_path)  # type: ignore[attr-defined]
    backend = DockerBackend(settings)
    first = backend.start(KafkaService(), timeout=settings.start_timeout)
    env = first.container.get_wrapped_container().attrs["Config"]["Env"]
    assert any("-XX:ArchiveClassesAtExit=" in item for item in env)
    first.stop()  # graceful for the recording container: the JVM writes the archive at exit
    archives = list(tmp_path.glob("kafka-cds/*/kafka.jsa"))  # type: ignore[attr-defined]
    assert len(archives) == 1 and archives[0].stat().st_size > 0
    assert not list(tmp_path.glob("kafka-cds/*/train-*"))  # type: ignore[attr-defined]

    second = backend.start(KafkaService(), timeout=settings.start_timeout)
    try:
        env = second.container.get_wrapped_container().attrs["Config"]["Env"]
        assert any("-XX:SharedArchiveFile=" in item for item in env)
    finally:
        second.stop()
