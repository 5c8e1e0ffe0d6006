"""Process plumbing for servers run on this machine (the local backend, run state).

* :func:`runtime_root`: where pid files, run state and throwaway data live.
* :class:`ServiceDir`: one server's own directory with its pid file (``ik-local.json``).
* :func:`reap_stale`: removes directories (and kills process groups) of dead owners.
* :data:`EXIT_GUARD`: stops what this process started at exit, on SIGINT and SIGTERM.

A pid file records the server's pid and its *owner* (the
:meth:`~integration_kit.services.ownership.Owner.marker`: pid, its start time, host).
A directory whose owner is provably dead is a leftover of a killed run.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import logging
import os
import shutil
import signal
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_kit.config import ensure_directory
from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.interrupts import keep_stopping
from integration_kit.services.ownership import cmdline, marker_alive, pid_alive

log = logging.getLogger("integration_kit.local")

PIDFILE = "ik-local.json"
#: A directory without a readable pid file older than this is a half-created leftover.
HALF_CREATED_GRACE_S = 120.0


def runtime_root(configured: Path | None = None) -> Path:
    """The per-user runtime directory (created): ``configured``, else /dev/shm, else tmp."""
    if configured is not None:
        return ensure_directory(configured, "runtime_dir")  # a file there: a coded error
    shm = Path("/dev/shm")
    base = shm if shm.is_dir() and os.access(shm, os.W_OK) else Path(tempfile.gettempdir())
    root = base / f"integration-kit-{os.getuid()}"
    root.mkdir(parents=True, exist_ok=True, mode=0o755)
    return root


def stop_process_group(pid: int, *, first_signal: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Send ``first_signal`` to ``pid``, wait up to ``grace`` s, then SIGKILL its whole group."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, first_signal)
    deadline = time.monotonic() + grace
    while pid_alive(pid) and time.monotonic() < deadline:
        _reap_child(pid)
        time.sleep(0.002)
    if pgid != os.getpgid(0):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
    _reap_child(pid)


def _reap_child(pid: int) -> None:
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


@dataclass
class ServiceDir:
    """A server's own directory and pid file."""

    path: Path

    @classmethod
    def create(cls, root: Path, kind: str) -> ServiceDir:
        services = root / "services"
        services.mkdir(parents=True, exist_ok=True)
        return cls(Path(tempfile.mkdtemp(prefix=f"{kind}-", dir=services)))

    @property
    def pidfile(self) -> Path:
        return self.path / PIDFILE

    def write(self, **record: Any) -> None:
        tmp = self.path / (PIDFILE + ".tmp")
        tmp.write_text(json.dumps(record))
        tmp.replace(self.pidfile)

    def read(self) -> dict[str, Any] | None:
        try:
            return dict(json.loads(self.pidfile.read_text()))
        except (OSError, ValueError):
            return None

    def update(self, **changes: Any) -> None:
        record = self.read() or {}
        record.update(changes)
        self.write(**record)

    def remove(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def stop_recorded(record: dict[str, Any]) -> None:
    """Stop the process a pid file records, if it is still the same program."""
    pid = int(record.get("pid", 0))
    if pid and pid_alive(pid) and str(record.get("match", "")) in cmdline(pid):
        stop_process_group(pid, first_signal=int(record.get("stop_signal", signal.SIGTERM)), grace=5.0)


def reap_stale(root: Path) -> int:
    """Stop and remove servers whose owner died; return how many were removed.

    Each one is logged with ``IK-LOCAL-STALE-PIDFILE``. A leftover that cannot be removed
    raises :class:`ServiceError` with that code.
    """
    services = root / "services"
    if not services.is_dir():
        return 0
    removed = 0
    for path in sorted(services.iterdir()):
        if not path.is_dir():
            continue
        service_dir = ServiceDir(path)
        record = service_dir.read()
        if record is None:
            try:
                age = time.time() - path.stat().st_mtime
            except OSError:
                continue
            if age < HALF_CREATED_GRACE_S:
                continue  # being created right now by another process
            record = {"pid": 0, "owner_pid": 0}
        owner = int(record.get("owner_pid", 0))
        if marker_alive(record):
            continue
        log.warning(
            "[%s] Stale pid file %s of a dead run (owner pid %s, server pid %s): stopping and removing it",
            ErrorCode.LOCAL_STALE_PIDFILE.value,
            service_dir.pidfile,
            owner,
            record.get("pid"),
        )
        stop_recorded(record)
        service_dir.remove()
        if path.exists():
            raise ServiceError(ErrorCode.LOCAL_STALE_PIDFILE, path=service_dir.pidfile, pid=record.get("pid"))
        removed += 1
    return removed


EXIT_SIGNALS = frozenset({signal.SIGINT, signal.SIGTERM})


def block_exit_signals() -> None:
    """Block SIGINT and SIGTERM in the calling (non-main) thread.

    Python runs signal handlers only in the main thread, and a process-directed signal
    goes to any thread that does not block it. If a helper thread takes SIGTERM, the C
    handler sets a flag but the main thread sleeps on (``time.sleep``, a blocking wait),
    so the services are never stopped. Helper threads call this first thing.
    """
    signal.pthread_sigmask(signal.SIG_BLOCK, EXIT_SIGNALS)


class ExitGuard:
    """Runs registered stop callbacks once: at exit, on SIGINT and on SIGTERM.

    Signal handlers are installed on first use (main thread only) and chain to the
    handlers that were there before.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._callbacks: dict[int, Callable[[], None]] = {}
        self._installed = False
        self._previous: dict[int, Any] = {}

    def register(self, key: int, callback: Callable[[], None]) -> None:
        with self._lock:
            self._callbacks[key] = callback
            if not self._installed:
                self._install()

    def unregister(self, key: int) -> None:
        with self._lock:
            self._callbacks.pop(key, None)

    def run_all(self) -> None:
        with self._lock:
            callbacks = list(self._callbacks.values())
            self._callbacks.clear()
        with keep_stopping():
            for callback in reversed(callbacks):
                try:
                    callback()
                except Exception:  # pragma: no cover - best effort at exit
                    log.exception("stopping a local service failed")

    def _install(self) -> None:
        self._installed = True
        atexit.register(self.run_all)
        if threading.current_thread() is not threading.main_thread():
            return
        for signum in (signal.SIGINT, signal.SIGTERM):
            if signal.getsignal(signum) == signal.SIG_IGN:
                continue  # an ignored signal must not stop the services of a running process
            try:
                self._previous[signum] = signal.signal(signum, self._on_signal)
            except (ValueError, OSError):  # pragma: no cover - not allowed here
                continue

    def _on_signal(self, signum: int, frame: Any) -> None:
        self.run_all()
        previous = self._previous.get(signum)
        if callable(previous):
            previous(signum, frame)
            return
        if previous == signal.SIG_IGN:
            return
        signal.signal(signum, signal.SIG_DFL)
        os.kill(os.getpid(), signum)


EXIT_GUARD = ExitGuard()
