"""The ``local`` backend: PostgreSQL, Redis and Kafka run from binaries on this machine.

Each server gets its own directory under the runtime root (``/dev/shm`` where it exists),
a free port on 127.0.0.1 and its own process group, and is stopped at exit, on SIGINT
and SIGTERM. A pid file in its directory names the :class:`Owner`; at the next start,
directories of dead owners are cleaned up (their servers killed) with a warning coded
``IK-LOCAL-STALE-PIDFILE``. Per service: :mod:`.postgres`, :mod:`.redis`, :mod:`.kafka`;
finding the programs (by version): :mod:`.binaries`.
"""

from __future__ import annotations

import atexit
import shutil
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from integration_kit.config import Settings, ensure_directory, load_settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.backends.local import kafka, postgres, redis
from integration_kit.services.backends.local.binaries import KINDS, Binaries
from integration_kit.services.backends.local.files import older_than
from integration_kit.services.backends.local.server import LocalService, handle_exit, stop_handle
from integration_kit.services.base import (
    Handle,
    KafkaService,
    PostgresService,
    RedisService,
    ServiceExit,
    ServiceSpec,
    with_version,
)
from integration_kit.services.ownership import Owner, pid_alive
from integration_kit.services.runtime import block_exit_signals, log, reap_stale, runtime_root
from integration_kit.waiting import check_timeout

_STARTERS: Mapping[type[ServiceSpec], Callable[..., LocalService]] = {
    PostgresService: postgres.start,
    RedisService: redis.start,
    KafkaService: kafka.start,
}


class LocalBackend:
    """Runs services from local binaries. See the module docstring."""

    name = "local"

    def __init__(
        self,
        settings: Settings | None = None,
        *,
        owner: Owner | None = None,
        search_path: Sequence[Path | str] | None = None,
    ) -> None:
        """``search_path`` replaces PATH and the well-known install directories
        (``Settings.local_path`` is always searched first); ``owner`` is whose death
        makes the servers leftovers (default: this process)."""
        self.settings = settings if settings is not None else load_settings()
        self.owner = owner if owner is not None else Owner.for_session()
        self.binaries = Binaries(self.settings, search_path)
        self._reaped = False
        self._background: list[threading.Thread] = []
        self._background_lock = threading.Lock()

    @property
    def root(self) -> Path:
        return runtime_root(self.settings.runtime_dir)

    @property
    def cache_root(self) -> Path:
        """The ``cache_dir`` setting, created and proven writable (``IK-CONFIG-UNUSABLE-PATH``)."""
        return ensure_directory(self.settings.cache_dir, "cache_dir")

    # -- what can run here --

    def can_run(self, spec: ServiceSpec) -> tuple[bool, str]:
        """Whether the binaries for ``spec`` (kind and version) are here, and where."""
        if type(spec) not in _STARTERS:
            return False, f"the local backend cannot run {spec.kind!r} services"
        try:
            found = self.binaries.require(spec)
        except ServiceError as exc:
            return False, exc.message
        return True, ", ".join(f"{k}={v}" for k, v in found.paths.items())

    def available(self) -> tuple[bool, str]:
        verdicts = [(kind, *self.can_run(spec)) for kind, spec in _default_specs().items()]
        return all(ok for _, ok, _ in verdicts), "; ".join(f"{kind}: {why}" for kind, _, why in verdicts)

    # -- lifecycle --

    def reap(self) -> int:
        """Stop and remove servers of dead owners, and half-written cache copies."""
        self._reaped = True
        removed = reap_stale(self.root)
        for tmp in (self.root / "spares").glob(".tmp-*"):
            if older_than(tmp, 600):
                shutil.rmtree(tmp, ignore_errors=True)
        return removed

    def start(self, spec: ServiceSpec, *, timeout: float) -> LocalService:
        """Start ``spec`` and return once it answers a protocol-level request."""
        check_timeout(timeout, f"starting {spec.key}")  # before anything runs that could leak
        starter = _STARTERS.get(type(spec))
        if starter is None:
            raise ServiceError(
                ErrorCode.SVC_UNKNOWN_KIND,
                backend=self.name,
                kind=spec.kind,
                service=spec.key,
                known=", ".join(KINDS),
            )
        if not self._reaped:
            self.reap()
        found = self.binaries.require(spec)
        paths = found.paths
        deadline = time.monotonic() + timeout
        attempts = self.settings.start_attempts
        for attempt in range(1, attempts + 1):
            try:
                service = starter(self, spec, paths, deadline)
                service.endpoint = with_version(service.endpoint, found.version)
                return service
            except ServiceError as exc:
                retry = exc.code is ErrorCode.SVC_PROCESS_EXITED and attempt < attempts
                if not retry or time.monotonic() >= deadline:
                    raise
                log.info("%s exited during start (attempt %d/%d); retrying", spec.kind, attempt, attempts)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def stop_handle(self, handle: Handle) -> None:
        stop_handle(handle)

    def handle_exit(self, handle: Handle) -> ServiceExit | None:
        """How the server a handle names ended (``None`` while it runs)."""
        return handle_exit(handle)

    def handle_alive(self, handle: Handle) -> bool:
        return pid_alive(int(handle.get("pid", 0))) and Path(str(handle.get("dir"))).is_dir()

    def close(self) -> None:
        """Nothing to do: every server stops itself at exit (see ``runtime.EXIT_GUARD``)."""

    def prepare(self, kinds: Sequence[str] = KINDS, *, timeout: float = 300.0) -> dict[str, str]:
        """Fill the caches so later starts are fast: start and stop each service once, then
        wait for the PostgreSQL spare and Kafka's class-data archive. Returns what was done."""
        specs = _default_specs()
        done: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        for kind in kinds:
            service = self.start(specs[kind], timeout=max(1.0, deadline - time.monotonic()))
            service.stop()
            done[kind] = service.data_source or "started"
            if service.archive_builder is not None:
                service.archive_builder.wait(timeout=max(1.0, deadline - time.monotonic()))
                done[kind] += ", class-data archive built"
        self.wait_background(max(1.0, deadline - time.monotonic()))
        return done

    # -- background cache work --

    def in_background(self, name: str, work: Callable[[], Any]) -> None:
        """Run cache work on a daemon thread (waited for at exit)."""

        def run() -> None:
            block_exit_signals()  # SIGINT/SIGTERM must reach the main thread's handler
            try:
                work()
            except Exception:
                log.warning("background task %s failed", name, exc_info=True)

        thread = threading.Thread(target=run, name=f"ik-local-{name}", daemon=True)
        with self._background_lock:
            self._background = [t for t in self._background if t.is_alive()]
            if not self._background:
                atexit.register(self.wait_background)
            self._background.append(thread)
        thread.start()

    def wait_background(self, timeout: float = 30.0) -> None:
        """Wait for background cache work (spare copies) to finish."""
        with self._background_lock:
            threads = list(self._background)
        end = time.monotonic() + timeout
        for thread in threads:
            thread.join(max(0.0, end - time.monotonic()))


def _default_specs() -> dict[str, ServiceSpec]:
    return {"postgres": PostgresService(), "redis": RedisService(), "kafka": KafkaService()}
