"""A warm set on disk: the services a project keeps running between runs, and who uses them.

One directory per project and backend under ``<runtime_dir>/warm/<project>-<backend>/``:

- ``set.json``: project, its root, backend, when it started, the idle timeout, and the
  watchdog process that owns the services (pid and start time: the owner marker every
  container label and pid file of the set names);
- ``services/<fingerprint>.json``: one service: its spec, endpoint and detach handle;
- ``users/<pid>``: the runs using it now; ``used``: touched whenever a run joins or leaves
  (its mtime is the start of the idle time).

Every change happens under ``<project>-<backend>.lock`` (``fcntl.flock``), so workers
of one xdist run, and concurrent runs, start each service once.
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
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from integration_kit.config import Settings
from integration_kit.services import backends
from integration_kit.services.base import Endpoint, Handle, ServiceSpec
from integration_kit.services.ownership import Owner, owner_alive, pid_alive, process_start_time
from integration_kit.services.runtime import runtime_root

log = logging.getLogger("integration_kit.reuse")

#: Settings that change what a backend starts for a spec (part of its fingerprint).
_BACKEND_SETTINGS = {
    "docker": ("postgres_image", "redis_image", "kafka_image"),
    "local": ("kafka_home", "local_path"),
}


def warm_root(settings: Settings) -> Path:
    root = runtime_root(settings.runtime_dir) / "warm"
    root.mkdir(parents=True, exist_ok=True)
    return root


def spec_fingerprint(spec: ServiceSpec, backend: str, settings: Settings) -> str:
    """What makes two specs the same warm service: kind, fields, backend and its settings."""
    import hashlib

    from integration_kit.services.ownership import kit_version

    fields = dataclasses.asdict(spec)
    relevant = {name: str(getattr(settings, name)) for name in _BACKEND_SETTINGS.get(backend, ())}
    text = json.dumps(
        {"kind": spec.kind, "spec": fields, "backend": backend, "settings": relevant, "kit": kit_version()},
        sort_keys=True,
        default=str,
    )
    return f"{spec.kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def endpoint_json(endpoint: Endpoint) -> dict[str, Any]:
    data = dataclasses.asdict(endpoint)
    data["extra"] = dict(endpoint.extra)
    return data


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None


def _write(path: Path, data: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


class WarmSet:
    """The warm services of one project on one backend. See the module docstring."""

    def __init__(self, settings: Settings, *, project: str, backend: str) -> None:
        self.settings = settings
        self.project = project
        self.backend = backend
        self.name = f"{project}-{backend}"
        self.dir = warm_root(settings) / self.name
        self._lock_path = warm_root(settings) / f"{self.name}.lock"

    @classmethod
    def from_dir(cls, settings: Settings, path: Path) -> WarmSet:
        project, _, backend = path.name.partition("-")
        return cls(settings, project=project, backend=backend)

    # --- locking and the set's record --------------------------------------------------

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        with self._lock_path.open("a+") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def info(self) -> dict[str, Any] | None:
        return _read(self.dir / "set.json")

    def exists(self) -> bool:
        return self.info() is not None

    def create(self, *, root: Path, idle_timeout: float) -> dict[str, Any]:
        """Record a new set and start its watchdog (call under :meth:`locked`)."""
        (self.dir / "services").mkdir(parents=True, exist_ok=True)
        (self.dir / "users").mkdir(exist_ok=True)
        self.touch()
        info: dict[str, Any] = {
            "project": self.project,
            "root": str(root),
            "backend": self.backend,
            "created": time.time(),
            "idle_timeout": idle_timeout,
            "host": socket.gethostname(),
        }
        _write(self.dir / "set.json", info)
        pid = spawn_watchdog(self.dir, self.settings)
        info["watchdog"] = {"pid": pid, "start": process_start_time(pid)}
        _write(self.dir / "set.json", info)
        return info

    def owner(self, *, run_id: str | None = None) -> Owner:
        """The owner of the set's services: its watchdog process. ``run_id`` (default
        ``warm-<set>``) names one process's starts, so that a backend's ``close`` removes
        only its own half-started containers."""
        info = self.info() or {}
        watchdog = info.get("watchdog") or {}
        return Owner(
            run_id=run_id or f"warm-{self.name}",
            pid=int(watchdog.get("pid", 0)),
            pid_start=watchdog.get("start"),
            host=str(info.get("host", socket.gethostname())),
        )

    def watchdog_alive(self) -> bool:
        return self.exists() and owner_alive(self.owner().labels())

    # --- services ----------------------------------------------------------------------

    def services(self) -> dict[str, dict[str, Any]]:
        found = {}
        with contextlib.suppress(FileNotFoundError):
            for path in sorted((self.dir / "services").glob("*.json")):
                data = _read(path)
                if data is not None:
                    found[path.stem] = data
        return found

    def record(self, fingerprint: str, spec: ServiceSpec, endpoint: Endpoint, handle: Handle) -> None:
        _write(
            self.dir / "services" / f"{fingerprint}.json",
            {
                "key": spec.key,
                "kind": spec.kind,
                "spec": repr(spec),
                "endpoint": endpoint_json(endpoint),
                "handle": handle,
                "started": time.time(),
            },
        )

    def forget(self, fingerprint: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "services" / f"{fingerprint}.json").unlink()

    # --- users and idle time --------------------------------------------------------------

    def touch(self) -> None:
        self.dir.mkdir(parents=True, exist_ok=True)
        (self.dir / "used").write_text(str(time.time()))

    def last_used(self) -> float:
        try:
            return (self.dir / "used").stat().st_mtime
        except OSError:
            return 0.0

    def join(self, pid: int) -> None:
        (self.dir / "users").mkdir(parents=True, exist_ok=True)
        (self.dir / "users" / str(pid)).write_text(str(process_start_time(pid) or ""))
        self.touch()

    def leave(self, pid: int) -> None:
        with contextlib.suppress(FileNotFoundError):
            (self.dir / "users" / str(pid)).unlink()
        if self.dir.exists():
            self.touch()

    def live_users(self) -> list[int]:
        pids = []
        with contextlib.suppress(FileNotFoundError):
            for entry in (self.dir / "users").iterdir():
                if not entry.name.isdigit():
                    continue
                pid = int(entry.name)
                recorded = entry.read_text().strip() or None
                if pid_alive(pid) and (recorded is None or process_start_time(pid) == recorded):
                    pids.append(pid)
                else:
                    entry.unlink(missing_ok=True)
        return sorted(pids)

    # --- stopping ------------------------------------------------------------------------

    def stop(self, reason: str) -> int:
        """Stop every service of the set, remove its record and its watchdog (under
        :meth:`locked`); return how many services were stopped."""
        stopped = 0
        info = self.info() or {}
        for fingerprint, data in self.services().items():
            try:
                backends.stop_handle(data["handle"], self.settings)
                stopped += 1
            except Exception:
                log.warning("integration-kit: stopping warm %s failed", fingerprint, exc_info=True)
        shutil.rmtree(self.dir, ignore_errors=True)
        watchdog = info.get("watchdog") or {}
        pid = int(watchdog.get("pid", 0))
        if pid and pid != os.getpid() and owner_alive(self.owner_labels(watchdog, info)):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        log.info("integration-kit: warm set %s stopped (%s)", self.name, reason)
        return stopped

    @staticmethod
    def owner_labels(watchdog: dict[str, Any], info: dict[str, Any]) -> dict[str, str]:
        from integration_kit.services.ownership import LABEL_HOST, LABEL_PID, LABEL_PID_START

        labels = {LABEL_PID: str(watchdog.get("pid", 0)), LABEL_HOST: str(info.get("host", ""))}
        if watchdog.get("start"):
            labels[LABEL_PID_START] = str(watchdog["start"])
        return labels

    def status(self) -> dict[str, Any]:
        info = self.info() or {}
        return {
            "name": self.name,
            "project": self.project,
            "root": info.get("root"),
            "backend": self.backend,
            "since": info.get("created"),
            "idle_timeout": info.get("idle_timeout"),
            "idle_s": round(time.time() - self.last_used(), 1),
            "users": self.live_users(),
            "watchdog": (info.get("watchdog") or {}).get("pid"),
            "watchdog_alive": self.watchdog_alive(),
            "services": [
                {"key": data["key"], "kind": data["kind"], "endpoint": _address(data["endpoint"])}
                for data in self.services().values()
            ],
        }


def _address(endpoint: dict[str, Any]) -> str:
    return f"{endpoint.get('host')}:{endpoint.get('port')}"


#: Popen objects of watchdogs this process started (kept so that none is reaped as garbage).
_SPAWNED: list[subprocess.Popen[bytes]] = []


def spawn_watchdog(set_dir: Path, settings: Settings) -> int:
    """Start the watchdog of ``set_dir``, detached from this process; return its pid."""
    env = dict(os.environ)
    if settings.runtime_dir is not None:
        env["INTEGRATION_KIT_RUNTIME_DIR"] = str(settings.runtime_dir)
    with (set_dir / "watchdog.log").open("ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "integration_kit.services.warm.watchdog", str(set_dir)],
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=log_file,
            start_new_session=True,
            close_fds=True,
            env=env,
        )
    _SPAWNED.append(process)
    return process.pid


#: A warm set's directory name: ``<project id>-<backend setting>``.
SET_NAME = re.compile(r"[0-9a-f]{12}-(auto|docker|local)")


def list_sets(settings: Settings) -> list[WarmSet]:
    """The warm sets in the runtime directory (only directories named like one)."""
    root = warm_root(settings)
    return [
        WarmSet.from_dir(settings, path)
        for path in sorted(root.iterdir())
        if path.is_dir() and SET_NAME.fullmatch(path.name)
    ]


def reap_sets(settings: Settings) -> list[str]:
    """Stop the warm sets whose watchdog (their owner) is gone; return their names."""
    reaped = []
    for warm in list_sets(settings):
        with warm.locked():
            if not warm.dir.exists() or warm.watchdog_alive():
                continue
            warm.stop("its owner, the watchdog process, is gone")
        reaped.append(warm.name)
    return reaped
