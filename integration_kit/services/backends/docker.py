"""The ``docker`` backend: services as containers, through testcontainers.

Images come from the settings (``postgres_image``, ``redis_image``, ``kafka_image``,
env ``INTEGRATION_KIT_POSTGRES_IMAGE``...) and honour the official images' env contracts
(postgres, redis, apache/kafka). An image that is present is never pulled; an absent one
is pulled only with ``allow_pull``. Every container carries labels (run id, owner pid,
kit version) so that :mod:`integration_kit.services.reaper` can remove what a dead run
left behind, with or without Ryuk.

Readiness is two-staged: the server's final "ready" log line (testcontainers' wait
strategies), then a protocol probe (:mod:`integration_kit.services.probes`) polled with
backoff until the start deadline. A start that fails removes its container and raises a
coded :class:`~integration_kit.errors.ServiceError` carrying the container's log tail.
"""

from __future__ import annotations

import contextlib
import os
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from integration_kit.config import Settings
from integration_kit.dependencies import require
from integration_kit.errors import DependencyError, ErrorCode, HealthCheckError, ServiceError
from integration_kit.services import reaper
from integration_kit.services.base import (
    Endpoint,
    KafkaService,
    PostgresService,
    RedisService,
    ServiceSpec,
)

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

HOST = "127.0.0.1"
LOG_TAIL_LINES = 40
_PORT_TAKEN = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)
_IMAGE_SETTING = {"postgres": "postgres_image", "redis": "redis_image", "kafka": "kafka_image"}


def docker_url() -> str:
    """Where the engine is expected (``DOCKER_HOST`` or the default socket)."""
    return os.environ.get("DOCKER_HOST") or "unix:///var/run/docker.sock"


def free_port(host: str = HOST) -> int:
    """A TCP port that is free on ``host`` right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int, host: str = HOST) -> bool:
    """Whether ``port`` can be bound on ``host`` (and on all interfaces)."""
    for address in (host, "0.0.0.0"):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


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
        return self.container.get_wrapped_container().id

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return _log_tail(self.container, lines)

    def stop(self) -> None:
        """Remove the container (idempotent)."""
        if self._stopped:
            return
        self._stopped = True
        if self._before_stop is not None:
            with contextlib.suppress(Exception):  # an optimisation must never block a stop
                self._before_stop(self.container)
        _remove(self.container)

    def detach(self, *, owner_pid: int) -> dict[str, str]:
        """Hand the container over (e.g. to an xdist run): this object and its backend's
        ``close()`` no longer remove it; :func:`stop_handle` does. ``owner_pid`` is only
        recorded: labels are fixed at creation (see ``reaper.OWNER_PID_ENV``)."""
        self._stopped = True
        if self._on_detach is not None:
            self._on_detach(self.container)
        return {"backend": "docker", "container_id": self.container_id, "owner_pid": str(owner_pid)}


def stop_handle(handle: Mapping[str, Any]) -> None:
    """Remove the container a :meth:`DockerRunning.detach` handle names (idempotent)."""
    import docker
    import docker.errors

    try:
        docker.from_env().containers.get(handle["container_id"]).remove(force=True, v=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


def _log_tail(container: DockerContainer, lines: int = LOG_TAIL_LINES) -> str:
    wrapped = getattr(container, "_container", None)
    if wrapped is None:
        return "(container was not created)"
    try:
        raw = wrapped.logs(tail=lines)
    except Exception as exc:  # the container may be gone already
        return f"(logs unavailable: {exc})"
    return raw.decode(errors="replace").rstrip()


def _remove(container: DockerContainer) -> None:
    import docker.errors

    try:
        container.stop(force=True, delete_volume=True)
    except docker.errors.NotFound:
        pass
    except docker.errors.APIError as exc:
        if "already in progress" not in str(exc):
            raise


@dataclass(frozen=True)
class _Recipe:
    """How to run one kind of service: container setup, readiness and endpoint."""

    configure: Callable[[DockerContainer], None]
    #: A pattern of the combined stdout+stderr log that says the server is up.
    ready_log: str
    endpoint: Callable[[DockerContainer], Endpoint]
    #: Paths mounted as tmpfs (test data is disposable; memory is faster than disk).
    tmpfs: tuple[str, ...] = ()
    host_port: int | None = None
    #: CPU weight under contention (docker's default is 1024). Starts run in parallel on
    #: few cores; the slowest (Kafka's JVM) gets more, so the whole set is ready sooner.
    cpu_shares: int = 512
    before_stop: Callable[[DockerContainer], None] | None = None


class DockerBackend:
    """Runs service specs as labelled containers. See the module docstring."""

    name = "docker"

    def __init__(self, settings: Settings, *, run_id: str | None = None) -> None:
        self.settings = settings
        self.run_id = run_id or uuid.uuid4().hex[:12]
        self._lock = threading.Lock()
        self._live: list[DockerContainer] = []
        self._closed = False
        self._detached: set[str] = set()
        self._client: Any = None

    # --- engine ---------------------------------------------------------------------------

    def client(self) -> Any:
        """A docker-py client; raises IK-DOCKER-UNAVAILABLE when the engine does not answer."""
        if self._client is None:
            require("docker", feature="the docker backend")
            require("testcontainers", feature="the docker backend")
            import docker
            import docker.errors

            try:
                client = docker.from_env()
                client.ping()
            except (docker.errors.DockerException, OSError) as exc:
                raise ServiceError(ErrorCode.DOCKER_UNAVAILABLE, url=docker_url(), cause=exc) from exc
            self._client = client
        return self._client

    def available(self) -> tuple[bool, str]:
        try:
            version = self.client().version().get("Version", "?")
        except ServiceError as exc:
            return False, exc.message
        except DependencyError as exc:
            if exc.code is not ErrorCode.DEP_MISSING:
                raise  # installed but outside the tested range: never fall back silently
            return False, exc.message
        return True, f"docker engine {version} at {docker_url()}"

    def labels(self, spec: ServiceSpec) -> dict[str, str]:
        """The labels every container of this run carries."""
        # Under pytest-xdist the run's owner is the controller (set by SharedBackend), so a
        # worker's reaper never removes a container of the live run.
        owner = getattr(self, "owner_pid", None)
        return {**reaper.owner_labels(self.run_id, pid=owner), reaper.LABEL_SERVICE: spec.key}

    def ensure_image(self, spec: ServiceSpec) -> str:
        """The image for ``spec``; pulled only when absent and ``allow_pull`` is set."""
        import docker.errors

        setting = _IMAGE_SETTING[spec.kind]
        image = str(getattr(self.settings, setting))
        client = self.client()
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound as exc:
            missing: Exception = exc
        except docker.errors.APIError as exc:
            raise ServiceError(ErrorCode.DOCKER_UNAVAILABLE, url=docker_url(), cause=exc) from exc
        env_var = f"INTEGRATION_KIT_{setting.upper()}"
        if not self.settings.allow_pull:
            raise ServiceError(
                ErrorCode.DOCKER_IMAGE_MISSING, image=image, cause=missing, env_var=env_var
            ) from missing
        try:
            client.images.pull(image)
        except docker.errors.APIError as exc:
            raise ServiceError(
                ErrorCode.DOCKER_IMAGE_MISSING, image=image, cause=exc, env_var=env_var
            ) from exc
        return image

    # --- lifecycle ------------------------------------------------------------------------

    def start(self, spec: ServiceSpec, *, timeout: float) -> DockerRunning:
        """Start ``spec`` and return once its protocol probe passes (see module docstring)."""
        from testcontainers.core.container import DockerContainer

        deadline = time.monotonic() + timeout
        image = self.ensure_image(spec)
        self._prepare_ryuk()
        if spec.port is not None and not port_is_free(spec.port):
            raise ServiceError(ErrorCode.SVC_PORT_IN_USE, port=spec.port, host=HOST, service=spec.key)
        recipe = self._recipe(spec, image)
        container = DockerContainer(image)
        recipe.configure(container)
        # One with_kwargs call: testcontainers replaces, not merges, the run's keyword arguments.
        run_kwargs: dict[str, Any] = {"labels": self.labels(spec), "cpu_shares": recipe.cpu_shares}
        if hasattr(container, "with_tmpfs_mount"):  # testcontainers >= 4.15 passes tmpfs= itself
            for path in recipe.tmpfs:
                container.with_tmpfs_mount(path)
        elif recipe.tmpfs:
            run_kwargs["tmpfs"] = {path: "" for path in recipe.tmpfs}
        container.with_kwargs(**run_kwargs)
        with self._lock:
            self._check_open(spec)
            self._live.append(container)
        try:
            self._start_container(spec, container, recipe.ready_log, deadline, timeout)
            with self._lock:  # closed (interrupted) while the container was being created
                self._check_open(spec)
            endpoint = recipe.endpoint(container)
            running = DockerRunning(
                spec=spec,
                endpoint=endpoint,
                container=container,
                image=image,
                _on_detach=self._forget,
                _before_stop=recipe.before_stop,
            )
            self._probe(running, deadline, timeout)
        except BaseException:
            self._discard(container)
            raise
        return running

    def _check_open(self, spec: ServiceSpec) -> None:
        if self._closed:
            raise ServiceError(ErrorCode.SVC_START_FAILED, service=spec.key, cause="the backend was closed")

    def _start_container(
        self, spec: ServiceSpec, container: DockerContainer, ready_log: str, deadline: float, timeout: float
    ) -> None:
        import docker.errors

        try:
            container.start()
            _wait_for_log(container, ready_log, deadline=deadline, cancelled=lambda: self._closed)
        except docker.errors.APIError as exc:
            if _PORT_TAKEN.search(str(exc)):
                port = spec.port if spec.port is not None else _first_host_port(container)
                raise ServiceError(
                    ErrorCode.SVC_PORT_IN_USE,
                    port=port,
                    host=HOST,
                    service=spec.key,
                    cause=exc,
                    chosen_by_kit=spec.port is None,
                ) from exc
            raise ServiceError(
                ErrorCode.SVC_START_FAILED, service=spec.key, cause=exc, log_tail=_log_tail(container)
            ) from exc
        except _Cancelled as exc:
            raise ServiceError(ErrorCode.SVC_START_FAILED, service=spec.key, cause=exc) from exc
        except TimeoutError as exc:
            raise ServiceError(
                ErrorCode.SVC_NOT_HEALTHY,
                service=spec.key,
                timeout=timeout,
                cause="its ready log line never appeared",
                log_tail=_log_tail(container),
            ) from exc
        except RuntimeError as exc:  # the container exited before its ready line
            raise ServiceError(
                ErrorCode.SVC_START_FAILED,
                service=spec.key,
                cause=_first_line(exc),
                log_tail=_log_tail(container),
            ) from exc

    def _probe(self, running: DockerRunning, deadline: float, timeout: float) -> None:
        from integration_kit.services.probes import StartCancelled, wait_ready

        try:
            wait_ready(running.spec.kind, running.endpoint, deadline=deadline, cancelled=lambda: self._closed)
        except StartCancelled as exc:
            raise ServiceError(
                ErrorCode.SVC_START_FAILED, service=running.spec.key, cause="the backend was closed"
            ) from exc
        except HealthCheckError as exc:
            raise ServiceError(
                ErrorCode.SVC_NOT_HEALTHY,
                service=running.spec.key,
                timeout=timeout,
                cause=f"{exc.context.get('check')}: {exc.context.get('last')}",
                log_tail=running.log_tail(),
            ) from exc

    def _discard(self, container: DockerContainer) -> None:
        with self._lock:
            if container in self._live:
                self._live.remove(container)
        with contextlib.suppress(Exception):  # best effort: the reaper catches what is left
            _remove(container)

    def _forget(self, container: DockerContainer) -> None:
        with self._lock:
            self._detached.add(container.get_wrapped_container().id)
            if container in self._live:
                self._live.remove(container)

    def close(self) -> None:
        """Remove every container this backend started that is still there; start no more."""
        with self._lock:
            self._closed = True
            live, self._live = self._live, []
        for container in live:
            with contextlib.suppress(Exception):
                _remove(container)
        # A container whose creation was in flight is not known by object yet: by label.
        if self._client is not None:
            with contextlib.suppress(Exception):
                label = f"{reaper.LABEL_RUN_ID}={self.run_id}"
                for container_id, _ in reaper.labelled_containers(self._client, label):
                    if container_id not in self._detached:
                        with contextlib.suppress(Exception):  # one failure must not spare the rest
                            reaper.remove_container(self._client, container_id)

    def reap(self) -> int:
        return reaper.reap_containers(self.client())

    def _kafka_cds(self, image: str) -> KafkaClassCache | None:
        """The JVM class-data cache for ``image``'s Kafka, where the engine shares our disk."""
        host = os.environ.get("DOCKER_HOST", "")
        if host and not host.startswith("unix://"):
            return None  # a remote engine cannot bind-mount our cache directory
        try:
            image_id = str(self.client().images.get(image).id).split(":")[-1][:16]
            return KafkaClassCache.for_image(self.settings.cache_dir, image_id)
        except Exception:  # no cache is slower, never wrong
            return None

    def _prepare_ryuk(self) -> None:
        """Without its image Ryuk cannot run (and must not be pulled): rely on our reaper."""
        from testcontainers.core.config import testcontainers_config as tc

        if tc.ryuk_disabled:
            return
        import docker.errors

        try:
            self.client().images.get(tc.ryuk_image)
        except docker.errors.ImageNotFound:
            tc.ryuk_disabled = True

    # --- recipes --------------------------------------------------------------------------

    def _recipe(self, spec: ServiceSpec, image: str) -> _Recipe:
        if isinstance(spec, PostgresService):
            return _postgres_recipe(spec)
        if isinstance(spec, RedisService):
            return _redis_recipe(spec)
        if isinstance(spec, KafkaService):
            return _kafka_recipe(spec, cds=self._kafka_cds(image))
        raise ServiceError(
            ErrorCode.SVC_START_FAILED,
            service=spec.key,
            cause=f"the docker backend cannot run {type(spec).__name__} specs",
        )


def _first_line(exc: BaseException) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def _first_host_port(container: DockerContainer) -> int | str:
    for binding in container.ports.values():
        if isinstance(binding, tuple) and binding[1]:
            return int(binding[1])
    return "?"


def _bind(container: DockerContainer, container_port: int, host_port: int | None) -> None:
    # Publish on loopback only: test databases have no business on the network. A tuple
    # (ip, port) is passed through to docker-py; port None means "any free port".
    container.ports[f"{container_port}/tcp"] = (HOST, host_port)  # type: ignore[assignment]


def _with_env(container: DockerContainer, **env: str) -> None:
    """Set environment variables (``with_envs`` is missing before testcontainers 4.12)."""
    for key, value in env.items():
        container.with_env(key, value)


def _mapped_endpoint(container: DockerContainer, port: int, **details: Any) -> Endpoint:
    host_port = int(container.get_docker_client().port(container.get_wrapped_container().id, port))
    return Endpoint(host=HOST, port=host_port, **details)


# --- PostgreSQL ----------------------------------------------------------------------------

_PG_READY = "database system is ready to accept connections"


class _Cancelled(Exception):
    """A start given up because the backend was closed (the run is being interrupted)."""


def _wait_for_log(
    container: DockerContainer, pattern: str, *, deadline: float, cancelled: Callable[[], bool]
) -> None:
    """Return once ``pattern`` appears in the container's combined stdout+stderr log.

    testcontainers' log wait searches stdout and stderr separately (a pattern spanning
    both never matches) and polls once a second; this one reads the interleaved log every
    50 ms, and fails at once when the container exits (RuntimeError) or the backend is
    closed (:class:`_Cancelled`) instead of waiting for the deadline (TimeoutError). It uses
    only the docker-py container, so it works with every testcontainers the kit supports.
    """
    compiled = re.compile(pattern)
    wrapped = container.get_wrapped_container()
    while True:
        if cancelled():
            raise _Cancelled("the backend was closed while the container was starting")
        if compiled.search(wrapped.logs().decode(errors="replace")):
            return
        wrapped.reload()
        if wrapped.status in {"exited", "dead"}:
            code = wrapped.attrs.get("State", {}).get("ExitCode")
            raise RuntimeError(f"container exited with code {code} before it was ready")
        if time.monotonic() >= deadline:
            raise TimeoutError(f"log never matched {pattern!r}")
        time.sleep(0.05)


def _postgres_ready_pattern() -> str:
    """Ready after the *final* server start, not the entrypoint's temporary one.

    testcontainers' ``PostgresContainer`` runs ``psql -c 'select 1'`` inside the container,
    which already passes against the temporary server the official entrypoint starts
    (socket-only) to run init scripts, before it stops it and starts the real one; and its
    ``LogMessageWaitStrategy(times=2)`` stores ``times`` but only searches once. So the
    "ready" line must follow "init process complete" (fresh data directory) or "Skipping
    initialization" (pre-initialised image): the final start is the one after either.
    """
    return r"(init process complete|Skipping initialization)[\s\S]*" + re.escape(_PG_READY)


def _postgres_recipe(spec: PostgresService) -> _Recipe:
    def configure(container: DockerContainer) -> None:
        _with_env(
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
        _bind(container, 5432, spec.port)

    def endpoint(container: DockerContainer) -> Endpoint:
        return _mapped_endpoint(
            container, 5432, user=spec.user, password=spec.password, database=spec.database
        )

    return _Recipe(
        configure=configure,
        ready_log=_postgres_ready_pattern(),
        endpoint=endpoint,
        tmpfs=("/var/lib/postgresql/data",),
    )


# --- Redis ---------------------------------------------------------------------------------


def _redis_recipe(spec: RedisService) -> _Recipe:
    def configure(container: DockerContainer) -> None:
        container.with_command(["redis-server", "--save", "", "--appendonly", "no", "--protected-mode", "no"])
        _bind(container, 6379, spec.port)

    def endpoint(container: DockerContainer) -> Endpoint:
        return _mapped_endpoint(container, 6379)

    return _Recipe(
        configure=configure,
        ready_log="Ready to accept connections",
        endpoint=endpoint,
    )


# --- Kafka ---------------------------------------------------------------------------------

KAFKA_CONTROLLER_PORT = 9093


def kafka_env_name(key: str) -> str:
    """``group.initial.rebalance.delay.ms`` -> ``KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS``.

    The apache/kafka image's inverse mapping: ``.`` -> ``_``, ``_`` -> ``__``, ``-`` -> ``___``.
    """
    return "KAFKA_" + key.replace("-", "\0").replace("_", "__").replace(".", "_").replace("\0", "___").upper()


def kafka_environment(port: int, broker_config: dict[str, str] | None = None) -> dict[str, str]:
    """apache/kafka env for a single KRaft broker+controller advertised at ``127.0.0.1:port``."""
    config = {
        "node.id": "1",
        "process.roles": "broker,controller",
        "listeners": f"PLAINTEXT://0.0.0.0:{port},CONTROLLER://127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        "advertised.listeners": f"PLAINTEXT://{HOST}:{port}",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "controller.quorum.voters": f"1@127.0.0.1:{KAFKA_CONTROLLER_PORT}",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "num.partitions": "1",
        "log.dirs": "/tmp/kraft-combined-logs",
    }
    config.update(broker_config or {})
    env = {kafka_env_name(key): value for key, value in config.items()}
    env["CLUSTER_ID"] = "ik" + uuid.uuid4().hex[:20]
    # A test broker: small heap, fast JIT warm-up over peak throughput.
    env["KAFKA_HEAP_OPTS"] = "-Xms256m -Xmx768m"
    env["KAFKA_JVM_PERFORMANCE_OPTS"] = "-XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Xshare:auto"
    return env


def _kafka_recipe(spec: KafkaService, *, cds: KafkaClassCache | None = None) -> _Recipe:
    """One KRaft node, advertised at the host port that is mapped 1:1 into the container.

    A Kafka client connects to the bootstrap address, then to the address the broker
    *advertises*, so that must be reachable from the test process. testcontainers'
    ``KafkaContainer`` solves this by starting the container with a shell loop that waits
    for a start script it copies in after the random host port is known; that script
    sources Confluent's ``/etc/confluent/docker`` layout (absent from apache/kafka) and
    adds a copy round-trip plus a 0.1 s poll to every start. Instead we pick a free host
    port first and publish it 1:1, so ``127.0.0.1:<port>`` is right both from the host and
    inside the container (where the broker also uses it as its inter-broker listener).
    The small race (the port taken between picking and binding) surfaces as
    IK-SVC-PORT-IN-USE and is retried with another port.
    """
    port = spec.port if spec.port is not None else free_port()

    def configure(container: DockerContainer) -> None:
        env = kafka_environment(port, dict(spec.broker_config))
        if cds is not None:
            env["KAFKA_JVM_PERFORMANCE_OPTS"] += " " + cds.jvm_option
            container.with_volume_mapping(str(cds.directory), CDS_MOUNT, "ro" if cds.ready else "rw")
        _with_env(container, **env)
        _bind(container, port, port)

    def endpoint(container: DockerContainer) -> Endpoint:
        return Endpoint(host=HOST, port=port)

    return _Recipe(
        configure=configure,
        ready_log=r"Kafka Server started",
        tmpfs=("/tmp/kraft-combined-logs",),
        endpoint=endpoint,
        host_port=port,
        cpu_shares=2048,
        before_stop=None if cds is None or cds.ready else cds.collect,
    )


CDS_MOUNT = "/ik-cds"


@dataclass(frozen=True)
class KafkaClassCache:
    """An AppCDS archive of the classes Kafka's JVM loads, cached per image on the host.

    Class loading is a large part of a broker's start; a JVM that maps a shared archive
    of those classes starts the broker about a quarter faster. The first Kafka container
    of an image records the archive (``-XX:ArchiveClassesAtExit``, written when the JVM
    exits, so that container is stopped gracefully); later ones map it read-only
    (``-XX:SharedArchiveFile``). With ``-Xshare:auto`` a missing or mismatched archive
    is ignored. Works with any image whose run script honours
    ``KAFKA_JVM_PERFORMANCE_OPTS`` (apache/kafka's does) on a JVM >= 13.
    """

    directory: Path
    ready: bool
    training_name: str = ""

    ARCHIVE = "kafka.jsa"

    @classmethod
    def for_image(cls, cache_dir: Path, image_id: str) -> KafkaClassCache:
        directory = Path(cache_dir) / "kafka-cds" / image_id
        directory.mkdir(parents=True, exist_ok=True)
        directory.chmod(0o777)  # the broker runs as a non-root user in the container
        if (directory / cls.ARCHIVE).is_file():
            return cls(directory=directory, ready=True)
        return cls(directory=directory, ready=False, training_name=f"train-{uuid.uuid4().hex[:12]}.jsa")

    @property
    def jvm_option(self) -> str:
        if self.ready:
            return f"-XX:SharedArchiveFile={CDS_MOUNT}/{self.ARCHIVE}"
        return f"-XX:ArchiveClassesAtExit={CDS_MOUNT}/{self.training_name}"

    def collect(self, container: DockerContainer) -> None:
        """Stop the recording container gracefully, then publish its archive atomically."""
        wrapped = container.get_wrapped_container()
        wrapped.stop(timeout=30)
        recorded = self.directory / self.training_name
        try:
            if (
                recorded.is_file()
                and recorded.stat().st_size > 0
                and not (self.directory / self.ARCHIVE).exists()
            ):
                os.replace(recorded, self.directory / self.ARCHIVE)
        finally:
            recorded.unlink(missing_ok=True)
