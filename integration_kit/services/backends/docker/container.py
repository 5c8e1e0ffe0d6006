"""Containers of the docker backend: the running service, readiness by log, removal, reaping.

:class:`DockerRunning` is what the backend returns. :class:`Recipe` is how one kind of
service runs (one module per service: :mod:`.postgres`, :mod:`.redis`, :mod:`.kafka`).
:func:`wait_for_log` waits for a pattern in the combined log; :func:`reap_containers`
removes containers whose :class:`~integration_kit.services.ownership.Owner` is dead.
"""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from integration_kit.services.base import Endpoint, Handle, ServiceExit, ServiceSpec
from integration_kit.services.ownership import LABEL_PID, owner_alive
from integration_kit.services.ports import HOST
from integration_kit.waiting import Backoff, wait_until_sync

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

LOG_TAIL_LINES = 40


def docker_url() -> str:
    """Where the engine is expected (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


@dataclass(frozen=True)
class Recipe:
    """How to run one kind of service: container setup, readiness and endpoint."""

    configure: Callable[[DockerContainer], None]
    #: A pattern of the combined stdout+stderr log that says the server is up.
    ready_log: str
    endpoint: Callable[[DockerContainer], Endpoint]
    #: Paths mounted as tmpfs (test data is disposable; memory is faster than disk).
    tmpfs: tuple[str, ...] = ()
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
    started_here: bool = True
    _stopped: bool = field(default=False, repr=False)
    _on_detach: Callable[[DockerContainer], None] | None = field(default=None, repr=False)
    _before_stop: Callable[[DockerContainer], None] | None = field(default=None, repr=False)

    @property
    def container_id(self) -> str:
        return str(self.container.get_wrapped_container().id)

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

    def exit_status(self) -> ServiceExit | None:
        """``None`` while the container runs; its exit code and log once it has stopped."""
        return container_exit(self.container.get_wrapped_container().client, self.container_id)

    def detach(self) -> Handle:
        """Hand the container over (e.g. to an xdist run): this object and its backend's
        ``close()`` no longer remove it; the backend's ``stop_handle`` does. Its labels
        already name the backend's owner."""
        self._stopped = True
        if self._on_detach is not None:
            self._on_detach(self.container)
        return {"backend": "docker", "container_id": self.container_id}


def container_exit(client: Any, container_id: str, lines: int = LOG_TAIL_LINES) -> ServiceExit | None:
    """How container ``container_id`` ended, or ``None`` while it runs (or when the engine
    cannot tell: a death is reported only when seen). One inspect call (~2 ms)."""
    import docker.errors

    try:
        state = client.api.inspect_container(container_id).get("State") or {}
    except docker.errors.NotFound:
        return ServiceExit(how=f"its container {container_id[:12]} was removed", exit_code=None, log_tail="")
    except Exception:  # the engine is busy or gone: not proof that the service died
        return None
    status = str(state.get("Status", ""))
    if status not in {"exited", "dead"}:
        return None
    how = f"its container {container_id[:12]} {status}"
    if state.get("OOMKilled"):
        how += " (killed by the out-of-memory killer)"
    try:
        tail = client.api.logs(container_id, tail=lines).decode(errors="replace").rstrip()
    except Exception as exc:
        tail = f"(logs unavailable: {exc})"
    code = state.get("ExitCode")
    return ServiceExit(how=how, exit_code=int(code) if code is not None else None, log_tail=tail)


def labelled_containers(client: Any, label: str) -> list[tuple[str, dict[str, str]]]:
    """``(id, labels)`` of every container (running or not) with ``label`` (``key`` or ``key=value``).

    One list call, no inspection per container: docker-py's ``containers.list()`` inspects
    each one it lists and raises NotFound when any of them is removed meanwhile (another
    run's teardown), which would abort a reap or a cleanup half-way.
    """
    listed = client.api.containers(all=True, filters={"label": label})
    return [(c["Id"], dict(c.get("Labels") or {})) for c in listed]


def remove_by_id(client: Any, container_id: str) -> bool:
    """Remove a container and its anonymous volumes; False if it is already gone or going."""
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if "already in progress" in str(exc):
            return False
        raise
    return True


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
    removed = 0
    for container_id, labels in labelled_containers(client, LABEL_PID):
        if not owner_alive(labels) and remove_by_id(client, container_id):
            removed += 1
    return removed


def bind(container: DockerContainer, container_port: int, host_port: int | None) -> None:
    """Publish ``container_port`` on loopback only (``host_port`` None: any free port)."""
    # Test databases have no business on the network. A tuple (ip, port) is passed
    # through to docker-py.
    container.ports[f"{container_port}/tcp"] = (HOST, host_port)  # type: ignore[assignment]


def with_env(container: DockerContainer, **env: str) -> None:
    """Set environment variables (``with_envs`` is missing before testcontainers 4.12)."""
    for key, value in env.items():
        container.with_env(key, value)


def mapped_endpoint(container: DockerContainer, port: int, **details: Any) -> Endpoint:
    host_port = int(container.get_docker_client().port(container.get_wrapped_container().id, port))
    return Endpoint(host=HOST, port=host_port, **details)


def first_host_port(container: DockerContainer) -> int | str:
    for binding in container.ports.values():
        if isinstance(binding, tuple) and binding[1]:
            return int(binding[1])
    return "?"


class Cancelled(Exception):
    """A start given up because the backend was closed (the run is being interrupted)."""


def wait_for_log(
    container: DockerContainer, pattern: str, *, deadline: float, cancelled: Callable[[], bool]
) -> None:
    """Return once ``pattern`` appears in the container's combined stdout+stderr log.

    testcontainers' log wait searches stdout and stderr separately (a pattern spanning
    both never matches) and polls once a second; this one reads the interleaved log every
    50 ms, and fails at once when the container exits (RuntimeError) or the backend is
    closed (:class:`Cancelled`) instead of waiting for the deadline (a TimeoutError). It
    uses only the docker-py container, so it works with every testcontainers the kit supports.
    """
    compiled = re.compile(pattern)
    wrapped = container.get_wrapped_container()

    def ready() -> bool:
        if cancelled():
            raise Cancelled("the backend was closed while the container was starting")
        if compiled.search(wrapped.logs().decode(errors="replace")):
            return True
        wrapped.reload()
        if wrapped.status in {"exited", "dead"}:
            code = wrapped.attrs.get("State", {}).get("ExitCode")
            raise RuntimeError(f"container exited with code {code} before it was ready")
        return False

    wait_until_sync(
        ready, deadline=deadline, backoff=Backoff.fixed(0.05), retry_on=(), what=f"log {pattern!r}"
    )
