"""One server process of the local backend: how it is spawned, watched, stopped, handed over.

:class:`LocalService` is what :class:`~integration_kit.services.backends.local.LocalBackend`
returns. :func:`spawn` starts a server in its own directory and process group, recording
its pid and owner in the directory's pid file; :func:`wait_ready` polls a wire probe
while watching the process. A pid file may also record an ``after_stop`` command (Kafka's
class-data archive build), run detached once the server is gone.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from integration_kit.errors import ErrorCode, ServiceError, WaitTimeoutError
from integration_kit.services.backends.local.files import RunAs
from integration_kit.services.base import Endpoint, Handle, ServiceExit, ServiceSpec
from integration_kit.services.interrupts import keep_stopping
from integration_kit.services.ownership import Owner, pid_alive
from integration_kit.services.runtime import EXIT_GUARD, ServiceDir, stop_process_group, stop_recorded
from integration_kit.waiting import Backoff, wait_until_sync

STOP_GRACE_S = 5.0
_POLL_S = 0.002


def run_after_stop(record: Mapping[str, Any]) -> subprocess.Popen[bytes] | None:
    """Start the detached ``after_stop`` command a pid file records, if any."""
    argv = record.get("after_stop")
    if not isinstance(argv, list) or not argv:
        return None
    return subprocess.Popen(
        [str(part) for part in argv],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


@dataclass(eq=False)
class LocalService:
    """A server process started by the local backend."""

    spec: ServiceSpec
    endpoint: Endpoint
    service_dir: ServiceDir
    process: subprocess.Popen[bytes] | None
    log_path: Path
    stop_signal: int = signal.SIGTERM
    backend_name: str = "local"
    started_here: bool = True
    #: Where the data directory came from: ``initdb``/``format``, ``cache`` or ``spare``.
    data_source: str = ""
    #: The detached ``after_stop`` command started when the server stopped, if any.
    archive_builder: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    _stopped: bool = field(default=False, repr=False)
    _stop_done: threading.Event = field(default_factory=threading.Event, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def pid(self) -> int:
        return self.process.pid if self.process is not None else 0

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def stop(self) -> None:
        """Stop the server and its process group and remove its directory (idempotent).

        A second caller while a stop is under way (the exit guard at interpreter exit, while
        an interrupted start thread stops what it had started) waits for that stop to end:
        otherwise the process could exit mid-stop, leaving the directory behind."""
        with self._lock:
            first = not self._stopped
            self._stopped = True
        if not first:
            self._stop_done.wait(timeout=STOP_GRACE_S + 10)
            return
        try:
            with keep_stopping():  # an interrupt here must not leave the server or its directory
                record = self.service_dir.read() or {}
                try:
                    if self.process is not None:
                        pid, signum = self.process.pid, self.stop_signal
                        stop_process_group(pid, first_signal=signum, grace=STOP_GRACE_S)
                        with contextlib.suppress(subprocess.TimeoutExpired):
                            self.process.wait(timeout=1)
                    self.archive_builder = run_after_stop(record)
                finally:
                    self.service_dir.remove()
        finally:
            self._stop_done.set()
            EXIT_GUARD.unregister(id(self))  # only now: the exit guard waits for a stop under way

    def exit_status(self) -> ServiceExit | None:
        """``None`` while the server runs; its exit code and log once it is gone. The code
        is written to the pid file, for the other processes of the run (:func:`handle_exit`)."""
        if self.process is None or self._stopped:
            return None
        code = self.process.poll()
        if code is None:
            return None
        with contextlib.suppress(OSError):
            self.service_dir.update(exit_code=code)
        return ServiceExit(how=_how(self.pid, code), exit_code=code, log_tail=self.log_tail())

    def detach(self) -> Handle:
        """Hand the server over: this process no longer stops it at exit. Its pid file
        already names the backend's owner (a dead owner makes it a leftover)."""
        EXIT_GUARD.unregister(id(self))
        return {"backend": "local", "dir": str(self.service_dir.path), "pid": self.pid}

    def __enter__(self) -> LocalService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def handle_record(handle: Mapping[str, Any]) -> dict[str, Any] | None:
    """The pid-file record of the server a :meth:`LocalService.detach` handle names, if
    the file is there and still records that server (the same pid)."""
    record = ServiceDir(Path(str(handle["dir"]))).read()
    if record is not None and int(record.get("pid", 0)) == int(handle.get("pid", 0)):
        return record
    return None


def stop_handle(handle: Mapping[str, Any]) -> None:
    """Stop a server from its :meth:`LocalService.detach` handle (from any process)."""
    record = handle_record(handle)
    if record is not None:
        stop_recorded(record)
        run_after_stop(record)
    ServiceDir(Path(str(handle["dir"]))).remove()


def handle_exit(handle: Mapping[str, Any], lines: int = 40) -> ServiceExit | None:
    """How the server a handle names ended (``None`` while it runs), from any process: the
    exit code its parent recorded, else the one a zombie still shows, else unknown."""
    pid = int(handle.get("pid", 0))
    if pid_alive(pid):
        return None
    service_dir = ServiceDir(Path(str(handle["dir"])))
    record = service_dir.read() or {}
    code = record.get("exit_code")
    code = int(code) if code is not None else _zombie_exit_code(pid)
    try:
        text = (service_dir.path / f"{record.get('kind', '')}.log").read_text(errors="replace")
        tail = "\n".join(text.splitlines()[-lines:])
    except OSError:
        tail = "(its log is gone)"
    return ServiceExit(how=_how(pid, code), exit_code=code, log_tail=tail)


def _how(pid: int, code: int | None) -> str:
    if code is not None and code < 0:
        return f"its process {pid} was killed by signal {-code}"
    return f"its process {pid} exited"


def _zombie_exit_code(pid: int) -> int | None:
    """The exit code of ``pid`` if it is a zombie not yet reaped by its parent (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return None
    if not fields or fields[0] != "Z" or len(fields) < 50:
        return None
    status = int(fields[-1])  # as waitpid(2) reports it
    return -(status & 0x7F) if status & 0x7F else (status >> 8) & 0xFF


def new_dir(root: Path, kind: str, owner: Owner) -> ServiceDir:
    """A fresh server directory whose pid file names ``owner`` (no server yet)."""
    service_dir = ServiceDir.create(root, kind)
    service_dir.write(pid=0, kind=kind, match="", started=time.time(), **owner.marker())
    return service_dir


def spawn(
    spec: ServiceSpec,
    endpoint: Endpoint,
    service_dir: ServiceDir,
    argv: list[str],
    *,
    owner: Owner,
    match: str,
    stop_signal: int,
    user: RunAs | None = None,
    env: Mapping[str, str] | None = None,
    record: Mapping[str, Any] | None = None,
) -> LocalService:
    """Start ``argv`` in ``service_dir`` (own session, log to a file) and record it."""
    log_path = service_dir.path / f"{spec.kind}.log"
    with log_path.open("ab") as log_file:
        process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log_file,
            stderr=subprocess.STDOUT,
            cwd=service_dir.path,
            start_new_session=True,
            env=dict(env) if env is not None else None,
            **(user.popen_kwargs() if user is not None else {}),
        )
    service_dir.write(
        pid=process.pid,
        kind=spec.kind,
        match=match,
        stop_signal=int(stop_signal),
        started=time.time(),
        port=endpoint.port,
        **owner.marker(),
        **(record or {}),
    )
    service = LocalService(
        spec=spec,
        endpoint=endpoint,
        service_dir=service_dir,
        process=process,
        log_path=log_path,
        stop_signal=stop_signal,
    )
    EXIT_GUARD.register(id(service), service.stop)
    return service


def wait_ready(
    service: LocalService,
    probe: Callable[[float], object],
    deadline: float,
    *,
    interval: float = _POLL_S,
) -> None:
    """Poll ``probe(timeout)`` until it passes; stop the server and raise a coded error
    if it exits (``IK-SVC-PROCESS-EXITED``) or the deadline passes (``IK-SVC-NOT-HEALTHY``)."""

    def attempt() -> bool:
        assert service.process is not None
        returncode = service.process.poll()
        if returncode is not None:
            tail = service.log_tail()
            service.stop()
            raise ServiceError(
                ErrorCode.SVC_PROCESS_EXITED, service=service.spec.key, returncode=returncode, log_tail=tail
            )
        probe(max(0.05, min(1.0, deadline - time.monotonic())))
        return True

    try:
        wait_until_sync(attempt, deadline=deadline, backoff=Backoff.fixed(interval), retry_on=(OSError,))
    except WaitTimeoutError as exc:
        last = exc.__cause__
        tail = service.log_tail()
        service.stop()
        raise ServiceError(
            ErrorCode.SVC_NOT_HEALTHY,
            service=service.spec.key,
            timeout=0.0,
            cause=f"{type(last).__name__}: {last}",
            log_tail=tail,
        ) from last
