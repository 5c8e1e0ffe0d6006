"""Redis on the docker backend: ``redis-server`` without persistence."""

from __future__ import annotations

from typing import TYPE_CHECKING

from integration_kit.services.backends.docker.container import Recipe, bind, mapped_endpoint
from integration_kit.services.base import Endpoint, RedisService

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer


def recipe(spec: RedisService) -> Recipe:
    def configure(container: DockerContainer) -> None:
        container.with_command(["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
        bind(container, 6379, spec.port)

    def endpoint(container: DockerContainer) -> Endpoint:
        return mapped_endpoint(container, 6379)

    return Recipe(configure=configure, ready_log="Ready to accept connections", endpoint=endpoint)
