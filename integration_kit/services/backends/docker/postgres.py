"""PostgreSQL on the docker backend: the official image's env contract, data in tmpfs."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from integration_kit.services.backends.docker.container import Recipe, bind, mapped_endpoint, with_env
from integration_kit.services.base import Endpoint, PostgresService

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

READY = "database system is ready to accept connections"


def ready_pattern() -> str:
    """Ready after the *final* server start, not the entrypoint's temporary one.

    testcontainers' ``PostgresContainer`` runs ``psql -c 'select 1'`` inside the container,
    which already passes against the temporary server the official entrypoint starts
    (socket-only) to run init scripts, before it stops it and starts the real one; and its
    ``LogMessageWaitStrategy(times=2)`` stores ``times`` but only searches once. So the
    "ready" line must follow "init process complete" (fresh data directory) or "Skipping
    initialization" (pre-initialised image): the final start is the one after either.
    """
    return r"(init process complete|Skipping initialization)[\s\S]*" + re.escape(READY)


def recipe(spec: PostgresService) -> Recipe:
    def configure(container: DockerContainer) -> None:
        with_env(
            container,
            POSTGRES_USER=spec.user,
            POSTGRES_PASSWORD=spec.password,
            POSTGRES_DB=spec.database,
            POSTGRES_INITDB_ARGS="--no-sync",
        )
        # Test data is disposable: no fsync, data directory in memory.
        container.with_command(
            ["postgres", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"]
        )
        bind(container, 5432, spec.port)

    def endpoint(container: DockerContainer) -> Endpoint:
        return mapped_endpoint(
            container, 5432, user=spec.user, password=spec.password, database=spec.database
        )

    return Recipe(
        configure=configure, ready_log=ready_pattern(), endpoint=endpoint, tmpfs=("/var/lib/postgresql/data",)
    )
