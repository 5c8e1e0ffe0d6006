"""Who owns what the kit starts: an :class:`Owner` value, liveness, and its markers.

An :class:`Owner` (run id, pid, that process's start time, host) is made once per
session and passed to the backend, which writes it where the resource lives: container
labels (docker), a pid file (local). A resource is removed by a later run only when its
marker names an owner that is provably dead on this host (:func:`owner_alive`): a pid
that is gone, or a pid reused by another process (different start time). A marker from
another host, or one that cannot be read, counts as alive.
"""

from __future__ import annotations

import importlib.metadata
import os
import socket
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

LABEL_PREFIX = "integration-kit"
LABEL_RUN_ID = f"{LABEL_PREFIX}.run-id"
LABEL_PID = f"{LABEL_PREFIX}.pid"
LABEL_PID_START = f"{LABEL_PREFIX}.pid-start"
LABEL_HOST = f"{LABEL_PREFIX}.host"
LABEL_VERSION = f"{LABEL_PREFIX}.version"
LABEL_SERVICE = f"{LABEL_PREFIX}.service"


def process_start_time(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (clock ticks since boot), or None if unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22; the command name (field 2) may hold spaces, so split after its ')'.
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` is a running (non-zombie) process."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def cmdline(pid: int) -> str:
    """The command line of ``pid`` ('' when unknown)."""
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


@dataclass(frozen=True, kw_only=True)
class Owner:
    """The owner of the services a backend starts: whose death makes them leftovers.

    ``pid`` is the process whose life bounds the services' (the test process, or the
    pytest-xdist controller, which outlives its workers); ``run_id`` names this
    backend's own resources (unique per session, so a worker never removes another's).
    """

    run_id: str
    pid: int
    pid_start: str | None
    host: str

    @classmethod
    def current(cls, *, pid: int | None = None, run_id: str | None = None) -> Owner:
        """An owner for this session: ``pid`` (default: this process), a fresh run id."""
        pid = os.getpid() if pid is None else pid
        return cls(
            run_id=run_id or uuid.uuid4().hex[:12],
            pid=pid,
            pid_start=process_start_time(pid),
            host=socket.gethostname(),
        )

    def labels(self) -> dict[str, str]:
        """The container labels naming this owner."""
        labels = {
            LABEL_RUN_ID: self.run_id,
            LABEL_PID: str(self.pid),
            LABEL_HOST: self.host,
            LABEL_VERSION: _kit_version(),
        }
        if self.pid_start is not None:
            labels[LABEL_PID_START] = self.pid_start
        return labels

    def marker(self) -> dict[str, str | int | None]:
        """The fields a pid file records for this owner."""
        return {"owner_pid": self.pid, "owner_start": self.pid_start, "owner_host": self.host}

    def alive(self) -> bool:
        return owner_alive(self.labels())


def _kit_version() -> str:
    try:
        return importlib.metadata.version("integration-kit")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


def owner_alive(labels: Mapping[str, str]) -> bool:
    """Whether the process that the labels name still runs (unknown means alive)."""
    if labels.get(LABEL_HOST, socket.gethostname()) != socket.gethostname():
        return True  # another machine's run: not ours to judge
    try:
        pid = int(labels[LABEL_PID])
    except (KeyError, ValueError):
        return True
    if not pid_alive(pid):
        return False
    recorded = labels.get(LABEL_PID_START)
    if recorded is None:
        return True
    current = process_start_time(pid)
    return current is None or current == recorded


def marker_alive(record: Mapping[str, object]) -> bool:
    """:func:`owner_alive` for a pid file's :meth:`Owner.marker` fields."""
    labels = {LABEL_PID: str(record.get("owner_pid", 0))}
    if record.get("owner_start") is not None:
        labels[LABEL_PID_START] = str(record["owner_start"])
    if record.get("owner_host") is not None:
        labels[LABEL_HOST] = str(record["owner_host"])
    return owner_alive(labels)
