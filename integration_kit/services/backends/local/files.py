"""Files and users for the local backend: tree copies, setup tools, and the user a server runs as."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
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


#: Copies in flight (``cp`` processes and their targets), stopped with the process.
_COPIES: dict[int, tuple[subprocess.Popen[bytes], Path]] = {}
_COPIES_LOCK = threading.Lock()


def _abort_copies() -> None:
    """Kill copies still running (at exit or on a signal) and remove what they wrote."""
    with _COPIES_LOCK:
        copies = list(_COPIES.values())
        _COPIES.clear()
    for process, target in copies:
        with contextlib.suppress(OSError):
            process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=5)
        shutil.rmtree(target, ignore_errors=True)


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
    )
    with _COPIES_LOCK:
        _COPIES[process.pid] = (process, target)
    EXIT_GUARD.register(id(_COPIES), _abort_copies)
    try:
        _, stderr = process.communicate()
    finally:
        with _COPIES_LOCK:
            _COPIES.pop(process.pid, None)
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
    """Run a setup tool (initdb, a storage format) to completion before ``deadline``."""
    try:
        result = subprocess.run(
            argv,
            cwd=cwd,
            input=(stdin or "").encode(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            timeout=max(0.1, deadline - time.monotonic()),
            check=False,
            **run_as.popen_kwargs(),
        )
    except subprocess.TimeoutExpired as exc:
        raise ServiceError(
            ErrorCode.SVC_START_FAILED, service=what, cause="timed out", log_tail=decode(exc.output)
        ) from exc
    output = decode(result.stdout)
    if result.returncode != 0 or "ERROR:" in output:
        raise ServiceError(
            ErrorCode.SVC_START_FAILED,
            service=what,
            cause=f"exit code {result.returncode}",
            log_tail=output,
        )
