"""ContainerService: any image as a service of the run, on the docker backend, with the
built-in services' lifecycle (labels, health, log tail, removal) and as a dependency of a
ProcessService; a coded error on the other backends."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from integration_kit import ServiceSession, TcpHealth
from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, UsageError, raises_code
from integration_kit.services import ownership
from integration_kit.services.backends.docker import DockerBackend
from integration_kit.services.backends.local import LocalBackend
from integration_kit.services.container import ContainerService
from integration_kit.services.process import ProcessService
from integration_kit.services.readiness import redis_ping

pytestmark = pytest.mark.integration


def _cache(settings: Settings, **changes: object) -> ContainerService:
    # The provisioned Redis image stands in for "some extra image": nothing is pulled.
    options: dict[str, object] = {
        "name": "cache",
        "image": settings.redis_image,
        "ports": [6379],
        "command": ["redis-server", "--save", "", "--protected-mode", "no"],
        # docker's port proxy accepts TCP before the server does: wait for its log line too.
        "ready_log": "Ready to accept connections",
    }
    options.update(changes)
    return ContainerService(**options)  # type: ignore[arg-type]


def test_container_runs_labelled_healthy_and_is_removed(docker_backend: DockerBackend) -> None:
    spec = _cache(docker_backend.settings, health=TcpHealth())
    running = docker_backend.start(spec, timeout=60)
    try:
        redis_ping(running.endpoint.host, running.endpoint.port)
        assert running.endpoint.extra["ports"] == {6379: running.endpoint.port}
        labels = running.container.get_wrapped_container().labels
        assert labels[ownership.LABEL_SERVICE] == "cache"
        assert labels[ownership.LABEL_RUN_ID] == docker_backend.run_id
        assert "Ready to accept connections" in running.log_tail()
        container_id = running.container_id
    finally:
        running.stop()
    import docker.errors

    with pytest.raises(docker.errors.NotFound):
        docker_backend.client().containers.get(container_id)


def test_never_healthy_container_fails_with_its_log_tail(docker_settings: Settings) -> None:
    backend = DockerBackend(docker_settings)
    spec = _cache(docker_settings, health=TcpHealth(port=1))  # nothing listens on port 1
    with raises_code(ErrorCode.SVC_NOT_HEALTHY) as caught:
        backend.start(spec, timeout=3)
    assert caught[0].log_tail and "Ready to accept connections" in caught[0].log_tail
    leftovers = backend.client().containers.list(
        all=True, filters={"label": f"{ownership.LABEL_RUN_ID}={backend.run_id}"}
    )
    assert leftovers == []


def test_container_is_a_process_dependency(docker_settings: Settings, tmp_path: Path) -> None:
    cache = _cache(docker_settings)
    seen = tmp_path / "seen"
    app = ProcessService(
        name="app",
        command=["sh", "-c", f'echo "$CACHE" > {seen}; exec {sys.executable} -m http.server {{port}}'],
        env={"CACHE": "{cache.host}:{cache.port}"},
        requires=[cache],
    )
    with ServiceSession(docker_settings.replace(backend="docker")) as session:
        started = session.ensure([app])
        endpoint = session.endpoint(cache)
        assert seen.read_text().strip() == f"{endpoint.host}:{endpoint.port}"
        assert set(started) == {"app"}
        redis_ping(endpoint.host, endpoint.port)


def test_other_backends_refuse_containers_with_a_code() -> None:
    spec = ContainerService(name="minio", image="minio/minio", ports=[9000])
    local = LocalBackend(load_settings())
    assert local.can_run(spec)[0] is False
    with raises_code(ErrorCode.SVC_UNKNOWN_KIND):
        local.start(spec, timeout=5)
    from integration_kit.services.backends.external import ExternalBackend

    external = ExternalBackend(load_settings(environ={}, pyproject=None))
    assert external.can_run(spec)[0] is False
    with raises_code(ErrorCode.SVC_UNKNOWN_KIND):
        external.start(spec, timeout=5)


@pytest.mark.parametrize(
    "changes",
    [{"name": ""}, {"image": ""}, {"ports": [0]}, {"ports": "6379"}, {"ports": []}, {"command": []}],
)
def test_bad_declarations_are_usage_errors(changes: dict[str, object]) -> None:
    options: dict[str, object] = {"name": "x", "image": "some/image", "ports": [80], **changes}
    with raises_code(ErrorCode.USAGE_INVALID_DECLARATION) as caught:
        ContainerService(**options)  # type: ignore[arg-type]
    assert isinstance(caught[0], UsageError)
