"""What a service is: specs (what a test needs), endpoints (where it runs), backends (how).

A *spec* (:class:`PostgresService`, :class:`RedisService`, :class:`KafkaService`,
:class:`ProcessService`) is an immutable description. A :class:`Backend` turns a spec
into a :class:`RunningService`, whose :class:`Endpoint` tests connect to.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol, runtime_checkable

from integration_kit.services.ownership import Owner

#: What any process needs to stop a service another one started (JSON-able; its
#: ``"backend"`` entry names the backend that understands the rest).
Handle = dict[str, Any]


@dataclass(frozen=True, kw_only=True)
class Endpoint:
    """Where a running service is reached from the test process."""

    host: str
    port: int
    user: str | None = None
    password: str | None = None
    database: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"

    @property
    def dsn(self) -> str:
        """PostgreSQL DSN (``postgresql://user:password@host:port/database``)."""
        auth = ""
        if self.user:
            auth = self.user + (f":{self.password}" if self.password else "") + "@"
        return f"postgresql://{auth}{self.host}:{self.port}/{self.database or 'postgres'}"

    @property
    def url(self) -> str:
        """Redis URL (``redis://[:password@]host:port/db``) or HTTP base URL for processes."""
        scheme = self.extra.get("scheme", "redis")
        if scheme == "redis":
            auth = f":{self.password}@" if self.password else ""
            return f"redis://{auth}{self.host}:{self.port}/{self.database or 0}"
        return f"{scheme}://{self.host}:{self.port}"

    @property
    def bootstrap_servers(self) -> str:
        """Kafka bootstrap servers (``host:port``, or the full list in ``extra``)."""
        return str(self.extra.get("bootstrap_servers", self.address))


def with_version(endpoint: Endpoint, version: str | None) -> Endpoint:
    """``endpoint`` naming the version actually served (``extra["version"]``: an image
    tag, a binary's or a server's own report), for the run summary; unchanged if unknown."""
    if not version:
        return endpoint
    return dataclasses.replace(endpoint, extra={**endpoint.extra, "version": str(version)})


@dataclass(frozen=True, kw_only=True)
class ServiceSpec:
    """Base of service specs. ``name`` identifies the service within a session."""

    kind: ClassVar[str] = "service"
    name: str = ""
    port: int | None = None
    """Host port to serve on; ``None`` (the default) lets the backend pick a free one."""

    @property
    def key(self) -> str:
        """Identity within a session: equal specs share one running service."""
        return self.name or self.kind


@dataclass(frozen=True, kw_only=True)
class PostgresService(ServiceSpec):
    kind: ClassVar[str] = "postgres"
    version: str = "15"
    user: str = "test"
    password: str = "test"
    database: str = "test"


@dataclass(frozen=True, kw_only=True)
class RedisService(ServiceSpec):
    kind: ClassVar[str] = "redis"
    version: str = "7"


@dataclass(frozen=True, kw_only=True)
class KafkaService(ServiceSpec):
    kind: ClassVar[str] = "kafka"
    version: str = "4"
    broker_config: Mapping[str, str] = field(default_factory=dict)


@runtime_checkable
class RunningService(Protocol):
    """A started service: where it is reached, its log, and how it stops."""

    spec: ServiceSpec
    endpoint: Endpoint

    def log_tail(self, lines: int = 40) -> str: ...

    def stop(self) -> None: ...


@runtime_checkable
class BackendService(RunningService, Protocol):
    """A service a backend started: it also names its backend and can be handed over."""

    backend_name: str

    @property
    def started_here(self) -> bool:
        """False when another process of the run started it (pytest-xdist sharing)."""
        ...

    def detach(self) -> Handle:
        """Hand the service over to whoever holds the returned handle: this object and its
        backend's ``close()`` no longer stop it; the backend's ``stop_handle`` does."""
        ...


@dataclass(frozen=True)
class ServiceExit:
    """How a service the kit started ended: what was seen, its exit code (``None`` when
    unknown; negative: killed by that signal) and the tail of its log."""

    how: str
    exit_code: int | None
    log_tail: str


@runtime_checkable
class WatchedService(Protocol):
    """A service whose death the kit can see (the docker and local backends' services)."""

    def exit_status(self) -> ServiceExit | None:
        """``None`` while it runs; how it ended once it is gone (cheap: a test setup asks)."""
        ...


@runtime_checkable
class Backend(Protocol):
    """Turns specs into running services: everything the session and coordination use.

    Implementations (``docker``, ``local``, ``external``) are constructed by the registry
    (:func:`integration_kit.services.backends.create_backend`) as
    ``Backend(settings, owner=owner)``: the :class:`Owner` is passed once, and every
    resource the backend creates carries it.
    """

    name: str
    owner: Owner

    def available(self) -> tuple[bool, str]:
        """Whether this backend can run anything here, and why (not)."""
        ...

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        """Whether this backend can run ``spec`` here (its kind and version), and why (not)."""
        ...

    def start(self, spec: ServiceSpec, *, timeout: float) -> BackendService:
        """Start ``spec`` and return once its protocol-level health check passes.

        A start that fails stops what it started and raises a coded ServiceError
        carrying the log tail.
        """
        ...

    def stop_handle(self, handle: Handle) -> None:
        """Stop the service a :meth:`BackendService.detach` handle names (from any
        process; idempotent: a service already gone is fine)."""
        ...

    def handle_alive(self, handle: Handle) -> bool:
        """Whether the service a handle names still runs (True where that is not cheap to tell)."""
        ...

    def reap(self) -> int:
        """Remove leftovers of dead owners; return how many were removed."""
        ...

    def close(self) -> None:
        """Stop what this backend started and still owns (not what was detached); start no more."""
        ...
