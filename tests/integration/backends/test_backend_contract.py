"""The Backend protocol's behaviour, the same for every backend that can run here:
start -> a BackendService that names its backend; detach -> a handle the registry stops
from any process; close never stops a detached service; versions are real."""

from __future__ import annotations

import pytest

from integration_kit.config import load_settings
from integration_kit.errors import ErrorCode, raises_code
from integration_kit.services import backends
from integration_kit.services.base import Backend, BackendService, KafkaService, PostgresService, RedisService
from integration_kit.services.ownership import Owner
from integration_kit.services.readiness import redis_ping

pytestmark = pytest.mark.integration


@pytest.fixture(params=["local", "docker"])
def backend(request: pytest.FixtureRequest) -> Backend:
    made = backends.create_backend(request.param, load_settings(), owner=Owner.current())
    ok, why = made.can_run(RedisService())
    if not ok:
        pytest.skip(f"{request.param} cannot run redis here: {why}")
    return made


def test_start_detach_and_stop_by_handle(backend: Backend) -> None:
    running = backend.start(RedisService(name="contract"), timeout=60)
    try:
        assert isinstance(running, BackendService)
        assert running.backend_name == backend.name
        handle = running.detach()
        assert handle["backend"] == backend.name
        backend.close()  # a detached service is the handle holder's now
        redis_ping(running.endpoint.host, running.endpoint.port)
        assert backend.handle_alive(handle)
        backends.stop_handle(handle, load_settings())  # as another process would
        backends.stop_handle(handle, load_settings())  # idempotent
        with pytest.raises(OSError):
            redis_ping(running.endpoint.host, running.endpoint.port, timeout=0.5)
    finally:
        running.stop()


def test_unavailable_version_is_a_coded_error_listing_what_is_there(backend: Backend) -> None:
    for spec, present in ((PostgresService(version="9"), "15"), (KafkaService(version="2.8"), "4.1")):
        if not backend.can_run(type(spec)())[0]:
            continue
        with raises_code(ErrorCode.SVC_VERSION_UNAVAILABLE) as caught:
            backend.start(spec, timeout=30)
        assert present in caught[0].context["available"], caught[0]
        assert caught[0].context["version"] == spec.version


def test_unknown_kind_is_a_coded_error(backend: Backend) -> None:
    from integration_kit.services.process import ProcessService

    with raises_code(ErrorCode.SVC_UNKNOWN_KIND):
        backend.start(ProcessService(name="app", command=["true"]), timeout=5)


@pytest.mark.parametrize("spec", [PostgresService(), RedisService()], ids=["postgres", "redis"])
def test_external_checks_the_servers_version(spec: PostgresService | RedisService) -> None:
    local = backends.create_backend("local", load_settings(), owner=Owner.current())
    if not local.can_run(spec)[0]:
        pytest.skip(f"no local {spec.kind} to stand in for an external server")
    with local.start(spec, timeout=60) as server:  # type: ignore[attr-defined]
        url = server.endpoint.dsn if spec.kind == "postgres" else server.endpoint.url
        settings = load_settings(environ={}, pyproject=None, **{f"{spec.kind}_url": url})
        external = backends.create_backend("external", settings)
        matching = external.start(spec, timeout=10)
        assert matching.version is not None  # type: ignore[attr-defined]
        assert matching.endpoint.extra["version"] == matching.version  # type: ignore[attr-defined]
        assert matching.version.startswith(spec.version)  # type: ignore[attr-defined]
        wrong = type(spec)(version="9")
        with raises_code(ErrorCode.SVC_VERSION_MISMATCH) as caught:
            external.start(wrong, timeout=10)
        assert caught[0].context["actual"] == matching.version  # type: ignore[attr-defined]
        assert caught[0].context["version"] == "9"
        assert "test:test@" not in caught[0].message  # the password is redacted


def _server_log_version(log: str, marker: str) -> str:
    for line in log.splitlines():
        if marker in line:
            return line.split(marker, 1)[1].strip().split()[0]
    return ""


@pytest.mark.parametrize("version", ["3.9", "4"])
def test_kafka_version_picks_the_release(backend: Backend, version: str) -> None:
    spec = KafkaService(name=f"kafka-{version}", version=version)
    ok, why = backend.can_run(spec)
    missing = backend.name == "docker" and version != "4" and not _docker_has(backend, "kafka", version)
    if not ok or missing:
        pytest.skip(f"no Kafka {version} on {backend.name} here ({why}); provision.sh versions adds 3.9")
    running = backend.start(spec, timeout=120)
    try:
        # The broker logs its release at start ("Kafka version: 3.9.1").
        assert _server_log_version(running.log_tail(400), "Kafka version:").startswith(version)
        assert running.endpoint.extra["version"].startswith(version)
    finally:
        running.stop()


@pytest.mark.parametrize("version", ["15", "17"])
def test_postgres_version_picks_the_server(backend: Backend, version: str) -> None:
    import asyncio

    import asyncpg

    spec = PostgresService(name=f"pg-{version}", version=version)
    ok, why = backend.can_run(spec)
    missing = version != "15" and backend.name == "docker" and not _docker_has(backend, "postgres", version)
    if not ok or missing:
        pytest.skip(f"no PostgreSQL {version} on {backend.name} here ({why})")
    try:
        running = backend.start(spec, timeout=120)
    except Exception as exc:
        if getattr(exc, "code", None) is ErrorCode.SVC_VERSION_UNAVAILABLE:
            pytest.skip(f"no PostgreSQL {version} on {backend.name} here: {exc}")
        raise
    try:

        async def server_version() -> str:
            conn = await asyncpg.connect(running.endpoint.dsn)
            try:
                return str(await conn.fetchval("SHOW server_version"))
            finally:
                await conn.close()

        served = asyncio.run(server_version())
        assert served.split(".")[0] == version
        # the endpoint names what runs (the run summary shows it), not only what was asked
        assert running.endpoint.extra["version"].split(".")[0] == version
    finally:
        running.stop()


def test_configured_image_names_the_version_it_serves() -> None:
    """A default spec on a configured image (``INTEGRATION_KIT_POSTGRES_IMAGE=...:17``)
    reports the image's version, so the run summary never shows the default instead."""
    environ = {"INTEGRATION_KIT_REDIS_IMAGE": "integration-kit/redis:8"}
    settings = load_settings(environ=environ, pyproject=None)
    docker = backends.create_backend("docker", settings, owner=Owner.current())
    if not docker.can_run(RedisService())[0] or not _docker_has(docker, "redis", "8"):
        pytest.skip("no docker engine or no integration-kit/redis:8 (provision.sh versions builds it)")
    running = docker.start(RedisService(name="configured-redis"), timeout=60)
    try:
        assert running.endpoint.extra["version"] == "8"
    finally:
        running.stop()
        docker.close()


def _docker_has(backend: Backend, kind: str, version: str) -> bool:
    from integration_kit.services.backends.docker import DockerBackend, split_image
    from integration_kit.services.versions import version_matches

    assert isinstance(backend, DockerBackend)
    family, _ = split_image(backend.configured_image(kind))
    tags = [t.rpartition(":")[2] for image in backend.client().images.list(name=family) for t in image.tags]
    return any(version_matches(version, tag) for tag in tags)
