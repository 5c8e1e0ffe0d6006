"""Any image on the docker backend (:class:`~integration_kit.services.container.ContainerService`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integration_kit.services.backends.docker.container import Recipe, bind, with_env
from integration_kit.services.base import Endpoint
from integration_kit.services.container import ContainerService
from integration_kit.services.ports import HOST

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer


def recipe(spec: ContainerService) -> Recipe:
    def configure(container: DockerContainer) -> None:
        with_env(container, **dict(spec.env))
        if spec.command is not None:
            container.with_command(list(spec.command))
        for host_path, container_path in spec.volumes.items():
            container.with_volume_mapping(str(host_path), str(container_path), "ro")
        for port in spec.ports:
            bind(container, port, spec.port if spec.port is not None and port == spec.ports[0] else None)

    def endpoint(container: DockerContainer) -> Endpoint:
        client = container.get_docker_client()
        container_id = container.get_wrapped_container().id
        mapped = {port: int(client.port(container_id, port)) for port in spec.ports}
        first = mapped[spec.ports[0]] if spec.ports else 0
        return Endpoint(host=HOST, port=first, extra={"ports": mapped, "scheme": "http"})

    return Recipe(configure=configure, ready_log=spec.ready_log, endpoint=endpoint)
