"""``ContainerService``: the one extra dependency a real suite has, as a container.

An object store (MinIO), a search engine, a mail catcher: any image, run by the docker
backend with the same lifecycle as the built-in services (owner labels, reaping, log
tail, a health check, removal at the end)::

    minio = ContainerService(
        name="minio",
        image="minio/minio:RELEASE.2025-01-01",
        ports=[9000],
        command=["server", "/data"],
        env={"MINIO_ROOT_USER": "test", "MINIO_ROOT_PASSWORD": "testtest"},
        health=HttpHealth("/minio/health/ready"),
    )
    app = ProcessService(name="app", command=[...], env={"S3": "http://{minio.address}"},
                         requires=[minio])

The first of ``ports`` is the endpoint's ``port`` (``{minio.port}``); every published
port is in ``endpoint.extra["ports"]`` (container port -> host port). Docker's port proxy
accepts TCP connections as soon as a port is published, before the server listens, so
``TcpHealth`` (the default) alone proves little: give ``ready_log`` (a pattern of the
container's log) or an ``HttpHealth``. Only the docker
backend runs containers: on local and external backends it is ``IK-SVC-UNKNOWN-KIND``
(run the dependency as a ``ProcessService``, or give its URL to your app directly).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import ClassVar

from integration_kit.errors import ErrorCode, UsageError
from integration_kit.services.base import ServiceSpec
from integration_kit.services.process import HealthTemplate, TcpHealth


@dataclass(frozen=True, kw_only=True)
class ContainerService(ServiceSpec):
    """Any image as a service of the run (docker backend). ``name`` and ``image`` are required."""

    kind: ClassVar[str] = "container"
    image: str
    ports: Sequence[int] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    command: Sequence[str] | None = None
    health: HealthTemplate = field(default_factory=TcpHealth)
    #: Host path -> container path, mounted read-only (fixtures, configuration).
    volumes: Mapping[str, str] = field(default_factory=dict)
    #: A pattern of the container's log that must appear before the health check runs.
    ready_log: str = ""

    def __post_init__(self) -> None:
        def refuse(attribute: str, value: object, expected: str) -> UsageError:
            return UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute=f"ContainerService.{attribute}",
                value=value,
                owner=self.name or "ContainerService",
                expected=expected,
            )

        if not self.name:
            raise refuse("name", self.name, "a non-empty name (placeholders use it: {name.port})")
        if not self.image or not isinstance(self.image, str):
            raise refuse("image", self.image, "an image reference present on the docker engine")
        if isinstance(self.ports, (str, bytes)) or not all(
            isinstance(p, int) and not isinstance(p, bool) and 0 < p < 65536 for p in self.ports
        ):
            raise refuse("ports", self.ports, "container ports (integers 1..65535)")
        if not self.ports and isinstance(self.health, TcpHealth) and self.health.port is None:
            raise refuse("ports", self.ports, "at least one port for the default TcpHealth check")
        if self.command is not None and (isinstance(self.command, (str, bytes)) or not self.command):
            raise refuse(
                "command", self.command, "a non-empty list of arguments, or None for the image's own"
            )
