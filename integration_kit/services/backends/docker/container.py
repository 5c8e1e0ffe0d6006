"""Containers of the docker backend: the running service, readiness by log, removal, reaping.

:class:`DockerRunning` is what the backend returns. :class:`Recipe` is how one kind of
service runs (one module per service: :mod:`.postgres`, :mod:`.redis`, :mod:`.kafka`).
:func:`log_wait` waits for a pattern in the combined log; :func:`reap_containers`
removes containers whose :class:`~integration_kit.services.ownership.Owner` is dead.
"""

from __future__ import annotations

import contextlib
import os
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from integration_kit.services.base import Endpoint, Handle, ServiceSpec
from integration_kit.services.ownership import LABEL_PID, owner_alive
from integration_kit.services.ports import HOST

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.waiting_utils import WaitStrategy

LOG_TAIL_LINES = 40


def docker_url() -> str:
    """Where the engine is expected (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Recipe:
    """How to run one kind of service: container setup, readiness and endpoint."""

    configure: Callable[[DockerContainer], None]
    ready_log: WaitStrategy
    endpoint: Callable[[DockerContainer], Endpoint]
    #: CPU weight under contention (docker's default is 1024). Starts run in parallel on
    #: few cores; the slowest (Kafka's JVM) gets more, so the whole set is ready sooner.
    cpu_shares: int = 512
    before_stop: Callable[[DockerContainer], None] | None = None


@dataclass
class DockerRunning:
    """A started container: its spec, endpoint and log."""

    spec: ServiceSpec
    endpoint: Endpoint
    container: DockerContainer
    image: str
    backend_name: str = "docker"
    _stopped: bool = field(default=False, repr=False)
    _on_detach: Callable[[DockerContainer], None] | None = field(default=None, repr=False)
    _before_stop: Callable[[DockerContainer], None] | None = field(default=None, repr=False)

    @property
    def container_id(self) -> str:
        return self.container.get_container_id()

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return log_tail(self.container, lines)

    def stop(self) -> None:
        """Remove the container (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._before_stop is not None:
            with contextlib.suppress(Exception):  # an optimisation must never block a stop
                self._before_stop(self.container)
        remove(self.container)

    def detach(self) -> Handle:
        """Hand the container over (e.g. to an xdist run): this object and its backend's
        ``close()`` no longer remove it; the backend's ``stop_handle`` does. Its labels
        already name the backend's owner."""
        self._stopped = True
        if self._on_detach is not None:
            self._on_detach(self.container)
        return {"backend": "docker", "container_id": self.container_id}


def remove_by_id(client: Any, container_id: str) -> None:
    """Remove a container by id (idempotent: gone or being removed is fine)."""
    import docker.errors

    try:
        client.containers.get(container_id).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def log_tail(container: DockerContainer, lines: int = LOG_TAIL_LINES) -> str:
    try:
        wrapped = container.get_wrapped_container()
    except Exception:
        wrapped = None
    if wrapped is None:
        return "(container was not created)"
    try:
        raw = wrapped.logs(tail=lines)
    except Exception as exc:  # the container may be gone already
        return f"(logs unavailable: {exc})"
    return str(raw.decode(errors="replace")).rstrip()


def remove(container: DockerContainer) -> None:
    import docker.errors

    try:
        container.stop(force=True, delete_volume=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def reap_containers(client: Any) -> int:
    """Remove containers whose owner is dead; return how many were removed."""
    import docker.errors

    removed = 0
    for container in client.containers.list(all=True, filters={"label": LABEL_PID}):
        if owner_alive(dict(container.labels)):
            continue
        try:
            container.remove(force=True, v=True)
        except docker.errors.NotFound:
            continue
        except docker.errors.APIError as exc:
            if "already in progress" in str(exc):
                continue
            raise
        removed += 1
    return removed


def bind(container: DockerContainer, container_port: int, host_port: int | None) -> None:
    """Publish ``container_port`` on loopback only (``host_port`` None: any free port)."""
    # Test databases have no business on the network. A tuple (ip, port) is passed
    # through to docker-py.
    container.ports[f"{container_port}/tcp"] = (HOST, host_port)  # type: ignore[assignment]


def mapped_endpoint(container: DockerContainer, port: int, **details: Any) -> Endpoint:
    host_port = int(container.get_docker_client().port(container.get_container_id(), port))
    return Endpoint(host=HOST, port=host_port, **details)


def first_host_port(container: DockerContainer) -> int | str:
    for binding in container.ports.values():
        if isinstance(binding, tuple) and binding[1]:
            return int(binding[1])
    return "?"


class Cancelled(Exception):
    """A start given up because the backend was closed (the run is being interrupted)."""


def log_wait(pattern: str) -> WaitStrategy:
    """A testcontainers wait strategy for ``pattern`` in the combined stdout+stderr log.

    testcontainers' ``LogMessageWaitStrategy`` searches stdout and stderr separately, so a
    pattern spanning both (the entrypoint's stdout, then the server's stderr) never
    matches. This one reads the interleaved log, and fails at once when the container
    exits (RuntimeError) instead of waiting for the deadline (TimeoutError).
    """
    from testcontainers.core.waiting_utils import WaitStrategy

    compiled = re.compile(pattern)

    class CombinedLogWaitStrategy(WaitStrategy):
        cancelled: Callable[[], bool] = staticmethod(lambda: False)  # type: ignore[assignment]

        def wait_until_ready(self, container: Any) -> None:
            wrapped = container.get_wrapped_container()
            deadline = time.monotonic() + self._startup_timeout
            while True:
                if self.cancelled():
                    raise Cancelled("the backend was closed while the container was starting")
                if compiled.search(wrapped.logs().decode(errors="replace")):
                    return
                wrapped.reload()
                if wrapped.status in {"exited", "dead"}:
                    code = wrapped.attrs.get("State", {}).get("ExitCode")
                    raise RuntimeError(f"container exited with code {code} before it was ready")
                if time.monotonic() >= deadline:
                    raise TimeoutError(f"log never matched {pattern!r}")
                time.sleep(self._poll_interval)

    return CombinedLogWaitStrategy()
