"""Files and users for the local backend: tree copies, setup tools, and the user a server runs as."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import signal
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_kit.errors import ErrorCode, ServiceError
from integration_kit.services.runtime import EXIT_GUARD


def decode(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else raw.decode(errors="replace")


def older_than(path: Path, seconds: float) -> bool:
    try:
        return time.time() - path.stat().st_mtime > seconds
    except OSError:
        return False


#: Setup processes in flight (``cp`` copies, initdb...) and what to remove when stopped.
_IN_FLIGHT: dict[int, tuple[subprocess.Popen[bytes], Path | None]] = {}
_IN_FLIGHT_LOCK = threading.Lock()
#: How long a setup tool gets to exit after SIGTERM before its process group is killed.
TOOL_GRACE_S = 5.0


def _track(process: subprocess.Popen[bytes], target: Path | None) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT[process.pid] = (process, target)
    EXIT_GUARD.register(id(_IN_FLIGHT), _abort_in_flight)


def _untrack(process: subprocess.Popen[bytes]) -> None:
    with _IN_FLIGHT_LOCK:
        _IN_FLIGHT.pop(process.pid, None)


def _abort_in_flight() -> None:
    """Stop setup processes still running (at exit or on a signal) and remove what they wrote."""
    with _IN_FLIGHT_LOCK:
        running = list(_IN_FLIGHT.values())
        _IN_FLIGHT.clear()
    for process, target in running:
        stop_tool(process, drain=False)
        if target is not None:
            shutil.rmtree(target, ignore_errors=True)


def _group_alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def stop_tool(process: subprocess.Popen[bytes], *, drain: bool, grace: float = TOOL_GRACE_S) -> None:
    """Stop a setup tool started in a session of its own, and everything it started.

    SIGTERM to the tool only, which stops its children the way they clean up after
    themselves (initdb closes its bootstrap ``postgres``'s input; that ``postgres``, when
    signalled or killed itself, leaves its segments in /dev/shm), then, once the whole
    group is gone or after ``grace`` seconds or a second interrupt, SIGKILL to what is left.
    ``drain``: read the tool's output meanwhile (only the thread that runs the tool may).
    """
    pgid = process.pid  # start_new_session: the tool leads its own group
    try:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            process.send_signal(signal.SIGTERM)  # not once it has been waited for
        deadline = time.monotonic() + grace
        if drain:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError, ValueError):
                process.communicate(timeout=grace)  # nothing blocks on a full pipe
        while time.monotonic() < deadline:
            process.poll()  # reaps the tool unless another thread is waiting for it
            if not _group_alive(pgid):
                break
            time.sleep(0.01)
    finally:
        if _group_alive(pgid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGKILL)
        if drain:
            with contextlib.suppress(subprocess.TimeoutExpired, OSError):
                process.wait(timeout=grace)


def store_copy(source: Path, target: Path) -> None:
    """Copy ``source`` to ``target`` atomically: into a sibling temp directory, then renamed.
    When another process stored ``target`` first, its copy stays and ours is dropped."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    copy_tree(source, tmp)
    try:
        tmp.rename(target)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)


def copy_tree(source: Path, target: Path) -> None:
    """Copy a directory keeping modes and owners (``cp -a``; shutil where there is no cp).

    A copy still running when this process exits or gets SIGINT/SIGTERM is killed and its
    target removed, so no orphaned ``cp`` writes into directories after their owner is gone.
    """
    cp = shutil.which("cp")
    if cp is None:
        shutil.copytree(source, target, symlinks=True)
        return
    process = subprocess.Popen(
        [cp, "-a", str(source), str(target)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        start_new_session=True,  # stopped as a group, like the setup tools
    )
    _track(process, target)
    try:
        _, stderr = process.communicate()
    finally:
        _untrack(process)
    if process.returncode == 0:
        return
    shutil.rmtree(target, ignore_errors=True)
    raise ServiceError(
        ErrorCode.SVC_START_FAILED,
        service=f"copy of {source}",
        cause=decode(stderr).strip() or f"cp exit code {process.returncode}",
    )


@dataclass(frozen=True)
class RunAs:
    """The user a server runs as: the current one, or a non-root one when we are root."""

    uid: int | None = None
    gid: int | None = None

    @classmethod
    def current(cls) -> RunAs:
        return cls()

    @classmethod
    def for_postgres(cls) -> RunAs:
        if os.geteuid() != 0:
            return cls()
        for name in ("postgres", "nobody"):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            return cls(entry.pw_uid, entry.pw_gid)
        raise ServiceError(
            ErrorCode.SVC_START_FAILED,
            service="postgres",
            cause="running as root and no 'postgres' or 'nobody' user exists (PostgreSQL refuses root)",
        )

    def popen_kwargs(self) -> dict[str, Any]:
        if self.uid is None:
            return {}
        return {"user": self.uid, "group": self.gid, "extra_groups": []}

    def check_reachable(self, path: Path) -> None:
        """Raise unless this user can traverse every directory above ``path``."""
        if self.uid is None:
            return
        for parent in [path, *path.parents]:
            st = parent.stat()
            if st.st_uid == self.uid:
                bit = 0o100
            elif st.st_gid == self.gid:
                bit = 0o010
            else:
                bit = 0o001
            if not st.st_mode & bit:
                raise ServiceError(
                    ErrorCode.SVC_START_FAILED,
                    service="postgres",
                    cause=f"{parent} is not searchable by uid {self.uid}, the user PostgreSQL runs "
                    "as (it refuses to run as root)",
                    hint="Set INTEGRATION_KIT_RUNTIME_DIR to a directory that user can reach "
                    "(the default under /dev/shm or the temp dir is).",
                )

    def chown(self, path: Path) -> None:
        if self.uid is not None:
            os.chown(path, self.uid, self.gid if self.gid is not None else -1)


def run_tool(
    argv: list[str],
    run_as: RunAs,
    deadline: float,
    *,
    what: str,
    stdin: str | None = None,
    cwd: Path | None = None,
) -> None:
    """Run a setup tool (initdb, a storage format) to completion before ``deadline``.

    The tool runs in a session of its own: on a timeout, an interrupt or this process's
    exit it is stopped with :func:`stop_tool`, never left running or killed mid-cleanup.
    """
    process = subprocess.Popen(
        argv,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        **run_as.popen_kwargs(),
    )
    _track(process, None)
    try:
        stdout, _ = process.communicate((stdin or "").encode(), timeout=max(0.1, deadline - time.monotonic()))
    except subprocess.TimeoutExpired as exc:
        stop_tool(process, drain=True)
        raise ServiceError(
            ErrorCode.SVC_START_FAILED, service=what, cause="timed out", log_tail=decode(exc.output)
        ) from exc
    except BaseException:
        stop_tool(process, drain=True)
        raise
    finally:
        _untrack(process)
    output = decode(stdout)
    if process.returncode != 0 or "ERROR:" in output:
        raise ServiceError(
            ErrorCode.SVC_START_FAILED,
            service=what,
            cause=f"exit code {process.returncode}",
            log_tail=output,
        )
