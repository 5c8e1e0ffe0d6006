"""The ``docker`` backend: services as containers, through testcontainers.

Images come from the settings (``postgres_image``, ``redis_image``, ``kafka_image``,
env ``INTEGRATION_KIT_POSTGRES_IMAGE``...) and honour the official images' env contracts
(postgres, redis, apache/kafka). ``spec.version`` picks the tag: the configured image
for the spec's default version or when its tag is that version (``"4"`` matches
``kafka:4.1.1``), else the newest local image of the same family whose tag is
(``postgres:17``), else a pull (``allow_pull`` only), else
``IK-SVC-VERSION-UNAVAILABLE`` listing the tags there are. An image that is
present is never pulled. Every container carries the :class:`Owner`'s labels so that a
later run removes what a dead run left behind, with or without Ryuk.

Readiness is two-staged: the server's final "ready" log line (:func:`.container.wait_for_log`),
then :func:`~integration_kit.services.readiness.wait_ready` until the start
deadline. A start that fails removes its container and raises a coded
:class:`~integration_kit.errors.ServiceError` carrying the container's log tail.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from integration_kit.config import Settings, load_settings
from integration_kit.dependencies import require
from integration_kit.errors import DependencyError, ErrorCode, HealthCheckError, ServiceError
from integration_kit.services import base
from integration_kit.services.backends.docker import generic, kafka, postgres, redis
from integration_kit.services.backends.docker.container import (
    Cancelled,
    DockerRunning,
    Recipe,
    container_exit,
    docker_url,
    first_host_port,
    labelled_containers,
    log_tail,
    reap_containers,
    remove,
    remove_by_id,
    wait_for_log,
)
from integration_kit.services.backends.docker.images import served_version, split_image
from integration_kit.services.base import (
    Handle,
    KafkaService,
    PostgresService,
    RedisService,
    ServiceSpec,
    with_version,
)
from integration_kit.services.container import ContainerService
from integration_kit.services.ownership import LABEL_RUN_ID, LABEL_SERVICE, Owner
from integration_kit.services.ports import HOST, port_is_free
from integration_kit.services.versions import version_key, version_matches
from integration_kit.waiting import check_timeout

if TYPE_CHECKING:
    from testcontainers.core.container import DockerContainer

_PORT_TAKEN = re.compile(r"port is already allocated|address already in use", re.IGNORECASE)
_IMAGE_ENV: dict[str, str] = {
    "postgres": "INTEGRATION_KIT_POSTGRES_IMAGE",
    "redis": "INTEGRATION_KIT_REDIS_IMAGE",
    "kafka": "INTEGRATION_KIT_KAFKA_IMAGE",
}
KINDS = (*_IMAGE_ENV, "container")


class DockerBackend:
    """Runs service specs as labelled containers. See the module docstring."""

    name = "docker"

    def __init__(self, settings: Settings | None = None, *, owner: Owner | None = None) -> None:
        self.settings = settings if settings is not None else load_settings()
        self.owner = owner if owner is not None else Owner.for_session()
        self._lock = threading.Lock()
        self._live: list[DockerContainer] = []
        self._closed = False
        self._detached: set[str] = set()
        self._client: Any = None

    @property
    def run_id(self) -> str:
        return self.owner.run_id

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

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        if spec.kind not in KINDS:
            return False, f"the docker backend cannot run {spec.kind!r} services"
        return self.available()

    def labels(self, spec: ServiceSpec) -> dict[str, str]:
        """The labels every container of this backend carries: its owner's, and the service."""
        return {**self.owner.labels(), LABEL_SERVICE: spec.key}

    def configured_image(self, kind: str) -> str:
        images = {
            "postgres": self.settings.postgres_image,
            "redis": self.settings.redis_image,
            "kafka": self.settings.kafka_image,
        }
        return images[kind]

    def image_for(self, spec: ServiceSpec) -> str:
        """The image that runs ``spec``'s version (see the module docstring)."""
        import docker.errors

        if isinstance(spec, ContainerService):
            return self._present_or_pulled(spec.image, spec)
        configured = self.configured_image(spec.kind)
        version = str(getattr(spec, "version", "") or "")
        family, tag = split_image(configured)
        default = next((str(f.default) for f in dataclasses.fields(spec) if f.name == "version"), "")
        if not version or version == default or version_matches(version, tag):
            return self._present_or_pulled(configured, spec)
        try:
            tags = sorted(
                {
                    t.rpartition(":")[2]
                    for image in self.client().images.list(name=family)
                    for t in image.tags
                },
                key=version_key,
                reverse=True,
            )
        except docker.errors.APIError as exc:
            raise ServiceError(ErrorCode.DOCKER_UNAVAILABLE, url=docker_url(), cause=exc) from exc
        matching = [t for t in tags if version_matches(version, t)]
        if matching:
            return f"{family}:{matching[0]}"
        if self.settings.allow_pull:
            return self._present_or_pulled(f"{family}:{version}", spec)
        raise ServiceError(
            ErrorCode.SVC_VERSION_UNAVAILABLE,
            backend=self.name,
            kind=spec.kind,
            version=version,
            service=spec.key,
            available=", ".join(f"{family}:{t}" for t in tags) or f"no {family} image",
            provide=f"build {family}:{version} (scripts/provision.sh images) or set {_IMAGE_ENV[spec.kind]}",
        )

    def _present_or_pulled(self, image: str, spec: ServiceSpec) -> str:
        import docker.errors

        client = self.client()
        try:
            client.images.get(image)
            return image
        except docker.errors.ImageNotFound as exc:
            missing: Exception = exc
        except docker.errors.APIError as exc:
            raise ServiceError(ErrorCode.DOCKER_UNAVAILABLE, url=docker_url(), cause=exc) from exc
        env_var = _IMAGE_ENV.get(spec.kind, f"ContainerService(name={spec.key!r}, image=...)")
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

        deadline = time.monotonic() + check_timeout(timeout, f"starting {spec.key}")
        recipe = self._recipe(spec)
        image = self.image_for(spec)
        self._prepare_ryuk()
        if spec.port is not None and not port_is_free(spec.port):
            raise ServiceError(ErrorCode.SVC_PORT_IN_USE, port=spec.port, host=HOST, service=spec.key)
        made = recipe(image)
        container = DockerContainer(image)
        made.configure(container)
        # One with_kwargs call: testcontainers replaces, not merges, the run's keyword arguments.
        run_kwargs: dict[str, Any] = {"labels": self.labels(spec), "cpu_shares": made.cpu_shares}
        if hasattr(container, "with_tmpfs_mount"):  # testcontainers >= 4.15 passes tmpfs= itself
            for path in made.tmpfs:
                container.with_tmpfs_mount(path)
        elif made.tmpfs:
            run_kwargs["tmpfs"] = {path: "" for path in made.tmpfs}
        container.with_kwargs(**run_kwargs)
        with self._lock:
            self._check_open(spec)
            self._live.append(container)
        try:
            self._start_container(spec, container, made.ready_log, deadline, timeout)
            with self._lock:  # closed (interrupted) while the container was being created
                self._check_open(spec)
            running = DockerRunning(
                spec=spec,
                endpoint=with_version(made.endpoint(container), served_version(image)),
                container=container,
                image=image,
                _on_detach=self._forget,
                _before_stop=made.before_stop,
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
            wait_for_log(container, ready_log, deadline=deadline, cancelled=lambda: self._closed)
        except docker.errors.APIError as exc:
            if _PORT_TAKEN.search(str(exc)):
                port = spec.port if spec.port is not None else first_host_port(container)
                raise ServiceError(
                    ErrorCode.SVC_PORT_IN_USE,
                    port=port,
                    host=HOST,
                    service=spec.key,
                    cause=exc,
                    chosen_by_kit=spec.port is None,
                ) from exc
            raise ServiceError(
                ErrorCode.SVC_START_FAILED, service=spec.key, cause=exc, log_tail=log_tail(container)
            ) from exc
        except Cancelled as exc:
            raise ServiceError(ErrorCode.SVC_START_FAILED, service=spec.key, cause=exc) from exc
        except TimeoutError as exc:
            raise ServiceError(
                ErrorCode.SVC_NOT_HEALTHY,
                service=spec.key,
                timeout=timeout,
                cause="its ready log line never appeared",
                log_tail=log_tail(container),
            ) from exc
        except RuntimeError as exc:  # the container exited before its ready line
            text = str(exc).strip()
            raise ServiceError(
                ErrorCode.SVC_START_FAILED,
                service=spec.key,
                cause=text.splitlines()[0] if text else type(exc).__name__,
                log_tail=log_tail(container),
            ) from exc

    def _probe(self, running: DockerRunning, deadline: float, timeout: float) -> None:
        from integration_kit.services.readiness import StartCancelled, wait_ready

        spec = running.spec
        check = spec.health.check(running.endpoint) if isinstance(spec, ContainerService) else None
        try:
            wait_ready(
                spec.kind, running.endpoint, deadline=deadline, cancelled=lambda: self._closed, check=check
            )
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
            remove(container)

    def _forget(self, container: DockerContainer) -> None:
        with self._lock:
            self._detached.add(str(container.get_wrapped_container().id))
            if container in self._live:
                self._live.remove(container)

    def stop_handle(self, handle: Handle) -> None:
        """Remove the container a :meth:`DockerRunning.detach` handle names (idempotent)."""
        remove_by_id(self.client(), str(handle["container_id"]))

    def handle_alive(self, handle: Handle) -> bool:
        return True  # asking the engine costs more than trusting the run's state

    def handle_exit(self, handle: Handle) -> base.ServiceExit | None:
        """How the container a handle names ended (``None`` while it runs)."""
        return container_exit(self.client(), str(handle["container_id"]))

    def close(self) -> None:
        """Remove every container this backend started that is still there; start no more."""
        with self._lock:
            self._closed = True
            live, self._live = self._live, []
        for container in live:
            with contextlib.suppress(Exception):
                remove(container)
        # A container whose creation was in flight is not known by object yet: by label.
        if self._client is not None:
            with contextlib.suppress(Exception):
                label = f"{LABEL_RUN_ID}={self.run_id}"
                for container_id, _ in labelled_containers(self._client, label):
                    if container_id not in self._detached:
                        with contextlib.suppress(Exception):  # one failure must not spare the rest
                            remove_by_id(self._client, container_id)

    def reap(self) -> int:
        return reap_containers(self.client())

    def _kafka_cds(self, image: str) -> kafka.KafkaClassCache | None:
        """The JVM class-data cache for ``image``'s Kafka, where the engine shares our disk."""
        host = os.environ.get("DOCKER_HOST", "")
        if host and not host.startswith("unix://"):
            return None  # a remote engine cannot bind-mount our cache directory
        try:
            image_id = str(self.client().images.get(image).id).split(":")[-1][:16]
            return kafka.KafkaClassCache.for_image(self.settings.cache_dir, image_id)
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

    def _recipe(self, spec: ServiceSpec) -> Callable[[str], Recipe]:
        """How to run ``spec``, given its image; ``IK-SVC-UNKNOWN-KIND`` for other specs."""
        if isinstance(spec, PostgresService):
            return lambda image: postgres.recipe(spec)
        if isinstance(spec, RedisService):
            return lambda image: redis.recipe(spec)
        if isinstance(spec, KafkaService):
            return lambda image: kafka.recipe(spec, cds=self._kafka_cds(image))
        if isinstance(spec, ContainerService):
            return lambda image: generic.recipe(spec)
        raise ServiceError(
            ErrorCode.SVC_UNKNOWN_KIND,
            backend=self.name,
            kind=spec.kind,
            service=spec.key,
            known=", ".join(KINDS),
        )
