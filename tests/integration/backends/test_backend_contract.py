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
        assert matching.version.startswith(spec.version)  # type: ignore[attr-defined]
        wrong = type(spec)(version="9")
        with raises_code(ErrorCode.SVC_VERSION_MISMATCH) as caught:
            external.start(wrong, timeout=10)
        assert caught[0].context["actual"] == matching.version  # type: ignore[attr-defined]
        assert caught[0].context["version"] == "9"
        assert "test:test@" not in caught[0].message  # the password is redacted
