"""One set of services for a whole pytest-xdist run, shared by every worker.

The first process that needs a service starts it under a file lock (``fcntl.flock``) and
writes its endpoint and a *handle* (what any process needs to stop it) to the run's
state directory, keyed by the xdist test run uid (``PYTEST_XDIST_TESTRUNUID``). The
others read the endpoint. Every process registers as a *holder* (a file named by its
pid); when the last live holder leaves, it stops the services and removes the state.
Holders are counted by live pids only, so a crashed worker neither keeps services
alive forever nor stops them under the others. Under xdist the controller registers
too (see :func:`controller_start`) and, outliving the workers, is the last one out.

Servers started for the run name the controller as their owner, so a run killed as a
whole is cleaned up at the next start (by the backends' reapers and :func:`reap_runs`).

Used by the session/plugin::

    with SharedServices(run_id, settings=settings) as shared:
        endpoint = shared.endpoint("postgres", lambda: backend.start(spec, timeout=60))

or, for a whole set at once, ``with shared_services(run_id, start_all) as endpoints``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from integration_kit.config import Settings, load_settings
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services import backends
from integration_kit.services.base import Backend, BackendService, Endpoint, Handle, ServiceSpec
from integration_kit.services.delegation import DelegatedService, DelegatingBackend
from integration_kit.services.ownership import pid_alive
from integration_kit.services.runtime import runtime_root

log = logging.getLogger("integration_kit.coordination")

RUN_ID_ENV = "PYTEST_XDIST_TESTRUNUID"
_SAFE = re.compile(r"[^A-Za-z0-9_.-]")


def current_run_id() -> str | None:
    """The xdist test run uid in a worker, else ``None`` (no sharing needed)."""
    return os.environ.get(RUN_ID_ENV) or None


def runs_root(settings: Settings | None = None) -> Path:
    settings = settings if settings is not None else load_settings()
    root = runtime_root(settings.runtime_dir) / "runs"
    root.mkdir(parents=True, exist_ok=True)
    return root


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path`` (created, with its directory) in the block."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def endpoint_to_json(endpoint: Endpoint) -> dict[str, Any]:
    data = dataclasses.asdict(endpoint)
    data["extra"] = dict(endpoint.extra)
    return data


def endpoint_from_json(data: Mapping[str, Any]) -> Endpoint:
    return Endpoint(**{**data, "extra": dict(data.get("extra") or {})})


# --- the run ------------------------------------------------------------------------------


class SharedServices:
    """Services shared by the processes of one test run. See the module docstring."""

    def __init__(self, run_id: str, *, settings: Settings | None = None, role: str = "worker") -> None:
        if not run_id or _SAFE.sub("", run_id) != run_id:
            raise ServiceError(
                ErrorCode.SVC_INVALID_RUN_ID,
                run_id=run_id,
                cause="it must be non-empty letters, digits, '_', '-' or '.'",
            )
        self.run_id = run_id
        self.role = role
        self.settings = settings if settings is not None else load_settings()
        self.root = runs_root(self.settings)
        self.dir = self.root / run_id
        self._run_lock = self.root / f"{run_id}.lock"
        self._registered = False

    # -- membership --

    @property
    def holders_dir(self) -> Path:
        return self.dir / "holders"

    @property
    def services_dir(self) -> Path:
        return self.dir / "services"

    def register(self) -> None:
        """Join the run as a holder (this process's pid)."""
        if self._registered:
            return
        reap_runs(self.settings, keep=self.run_id)
        with file_lock(self._run_lock):
            self.holders_dir.mkdir(parents=True, exist_ok=True)
            self.services_dir.mkdir(parents=True, exist_ok=True)
            (self.holders_dir / str(os.getpid())).write_text(self.role)
            if self.role == "controller":
                (self.dir / "controller.pid").write_text(str(os.getpid()))
        self._registered = True

    def live_holders(self) -> list[int]:
        pids = []
        with contextlib.suppress(FileNotFoundError):
            for entry in self.holders_dir.iterdir():
                if entry.name.isdigit() and pid_alive(int(entry.name)):
                    pids.append(int(entry.name))
        return sorted(pids)

    def owner_pid(self) -> int:
        """The process whose death makes this run's servers stale: the xdist controller."""
        with contextlib.suppress(OSError, ValueError):
            pid = int((self.dir / "controller.pid").read_text())
            if pid_alive(pid):
                return pid
        if os.environ.get("PYTEST_XDIST_WORKER"):
            return os.getppid()
        return os.getpid()

    def release(self) -> bool:
        """Leave the run; the last live holder stops every service. True if it stopped them."""
        if not self._registered:
            return False
        self._registered = False
        with file_lock(self._run_lock):
            with contextlib.suppress(FileNotFoundError):
                (self.holders_dir / str(os.getpid())).unlink()
            if self.live_holders():
                return False
            self._stop_all()
        return True

    def _stop_all(self) -> None:
        for handle in self.handles():
            try:
                backends.stop_handle(handle, self.settings)
            except Exception:
                log.warning("stopping shared service %r failed", handle, exc_info=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        with contextlib.suppress(FileNotFoundError):
            self._run_lock.unlink()

    def handles(self) -> list[Handle]:
        found = []
        with contextlib.suppress(FileNotFoundError):
            for path in sorted(self.services_dir.glob("*.json")):
                with contextlib.suppress(OSError, ValueError):
                    found.extend(json.loads(path.read_text()).get("handles", []))
        return found

    # -- services --

    def _state_path(self, key: str) -> Path:
        return self.services_dir / f"{_SAFE.sub('_', key)}.json"

    def endpoints(self, key: str, start: Callable[[], Mapping[str, BackendService]]) -> dict[str, Endpoint]:
        """Endpoints of a group of services started once for the run by ``start``."""
        if not self._registered:
            self.register()
        path = self._state_path(key)
        with file_lock(path.with_suffix(".lock")):
            state = _read_json(path)
            if state is not None and all(
                backends.handle_alive(h, self.settings) for h in state.get("handles", [])
            ):
                return {name: endpoint_from_json(data) for name, data in state["endpoints"].items()}
            started = start()
            handles = [running.detach() for running in started.values()]
            state = {
                "endpoints": {name: endpoint_to_json(r.endpoint) for name, r in started.items()},
                "handles": handles,
                "started_by": os.getpid(),
            }
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(state))
            tmp.replace(path)
            return {name: r.endpoint for name, r in started.items()}

    def endpoint(self, key: str, start: Callable[[], BackendService]) -> Endpoint:
        """The endpoint of service ``key``, started by the first caller in the run."""
        return self.endpoints(key, lambda: {key: start()})[key]

    def handle_of(self, key: str) -> Handle | None:
        """The handle of service ``key`` the run's state records, if any."""
        handles = (_read_json(self._state_path(key)) or {}).get("handles", [])
        return dict(handles[0]) if handles else None

    def __enter__(self) -> SharedServices:
        self.register()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


@contextlib.contextmanager
def shared_services(
    run_id: str | None,
    start_fn: Callable[[], Mapping[str, BackendService]],
    *,
    settings: Settings | None = None,
) -> Iterator[dict[str, Endpoint]]:
    """Endpoints of services started once per run (once per process when ``run_id`` is None).

    Without a run id (no xdist) ``start_fn`` runs here and its services stop on exit.
    """
    if run_id is None:
        started = start_fn()
        try:
            yield {name: running.endpoint for name, running in started.items()}
        finally:
            for running in started.values():
                running.stop()
        return
    with SharedServices(run_id, settings=settings) as shared:
        yield shared.endpoints("services", start_fn)


def _read_json(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def reap_runs(settings: Settings | None = None, *, keep: str | None = None) -> int:
    """Stop services of runs whose holders are all dead; return how many runs were cleaned."""
    root = runs_root(settings)
    cleaned = 0
    for run_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if run_dir.name == keep:
            continue
        run = SharedServices(run_dir.name, settings=settings)
        with file_lock(run._run_lock):
            if run.live_holders() or not run_dir.exists():
                continue
            log.warning(
                "[%s] Leftover run state %s of a dead run: stopping its services",
                ErrorCode.SVC_STALE_RUN_STATE.value,
                run_dir,
            )
            run._stop_all()
        cleaned += 1
    return cleaned


# --- a backend that shares ------------------------------------------------------------------


class SharedService(DelegatedService):
    """A service of the run as one process sees it: its endpoint; the run stops it."""

    ELSEWHERE = "(started by another pytest-xdist worker of this run)"


class SharedBackend(DelegatingBackend):
    """Wraps a backend so that each service starts once per run (pytest-xdist).

    ``start`` returns the run's service, starting it through ``inner`` only in the first
    process that asks; ``close`` leaves the run (the last one out stops everything).
    """

    def __init__(self, inner: Backend, shared: SharedServices) -> None:
        self.inner = inner
        self.shared = shared
        self.settings = shared.settings
        self.name = inner.name
        self.owner = inner.owner

    @classmethod
    def for_run(cls, settings: Settings, shared: SharedServices) -> SharedBackend:
        """The session's backend, owned by the run's longest holder (the xdist controller)."""
        from integration_kit.services.ownership import Owner
        from integration_kit.services.selection import select_backend

        return cls(select_backend(settings, owner=Owner.for_session(pid=shared.owner_pid())), shared)

    def delegate(self) -> Backend:
        return self.inner

    def start(self, spec: ServiceSpec, *, timeout: float) -> SharedService:
        started: list[BackendService] = []

        def start_here() -> BackendService:
            running = self.inner.start(spec, timeout=timeout)
            started.append(running)
            return running

        endpoint = self.shared.endpoint(spec.key, start_here)
        handle = self.shared.handle_of(spec.key) or {"backend": self.name}
        # The backend that really runs it (auto picks one per kind), not the configured name.
        used = started[0].backend_name if started else str(handle.get("backend") or self.name)
        # Started by another process: watched through its handle.
        watch = None if started else backends.exit_watch(handle, self.shared.settings)
        return SharedService(spec, endpoint, started[0] if started else None, backend_name=used, watch=watch)

    def reap(self) -> int:
        self.shared.register()
        return self.inner.reap()

    def close(self) -> None:
        self.inner.close()  # what it is still starting (interrupted); not what the run holds
        self.shared.release()


# --- pytest-xdist controller --------------------------------------------------------------


def controller_start(config: Any, *, settings: Settings | None = None) -> SharedServices | None:
    """In the xdist controller (call from ``pytest_sessionstart``, tryfirst): fix the run id
    the workers get and register the controller as the run's longest holder."""
    if hasattr(config, "workerinput") or not config.pluginmanager.has_plugin("dsession"):
        return None
    run_id = config.getoption("testrunuid", None)
    if run_id is None:
        import uuid

        run_id = uuid.uuid4().hex
        config.option.testrunuid = run_id
    shared = SharedServices(run_id, settings=settings, role="controller")
    shared.register()
    return shared


def controller_finish(shared: SharedServices | None) -> None:
    """In the controller after the workers are gone (``pytest_unconfigure``): last one out."""
    if shared is not None:
        shared.release()
