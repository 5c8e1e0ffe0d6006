"""Who owns what the kit starts and writes: one :class:`Owner` value and one liveness check.

An :class:`Owner` (run id, host, pid, that process's start time) is written where a
resource lives, so that another run, on this machine or elsewhere, can tell whose it is:

- container labels (docker, :meth:`Owner.labels`) and pid files (local, :meth:`Owner.marker`)
  for the servers a backend starts (the owner is the session's process, or the
  pytest-xdist controller, whose life bounds the servers');
- a text marker (:attr:`Owner.text`, ``run=<id> host=<name> pid=<n> start=<ticks>``) next
  to data on a shared server: a PostgreSQL database's comment, the Redis owner key, a row
  of the local Kafka topic registry (the owner is the process that wrote the data).

A resource is removed by someone other than its owner only when the owner is *provably
dead* on this host (:meth:`Owner.alive`): same host name, and the pid gone, a zombie, or
reused by a process with another start time. A marker from another host, or one that
cannot be read, counts as alive: what it names is never removed.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
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

#: pytest-xdist's run id, shared by the workers of one run.
RUN_ID_ENV = "PYTEST_XDIST_TESTRUNUID"
_SAFE_RUN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_TEXT = re.compile(r"run=(?P<run>[A-Za-z0-9_.-]+) host=(?P<host>\S+) pid=(?P<pid>\d+) start=(?P<start>\d+)")
_PROCESS_RUN_ID = uuid.uuid4().hex[:12]


def host_name() -> str:
    """This machine's host name, without whitespace (it is one token of a marker)."""
    return re.sub(r"\s", "_", socket.gethostname()) or "localhost"


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


def this_run_id() -> str:
    """This run's id: pytest-xdist's (shared by the workers) when there is one, else the process's."""
    found = os.environ.get(RUN_ID_ENV, "")
    return found if _SAFE_RUN_ID.fullmatch(found) else _PROCESS_RUN_ID


@dataclass(frozen=True, kw_only=True)
class Owner:
    """A process in a run: whose death makes what it started or wrote a leftover.

    ``pid_start`` is the kernel's start time of ``pid`` (None: unknown), which tells a
    reused pid from the original process.
    """

    run_id: str
    pid: int
    pid_start: str | None
    host: str

    @classmethod
    def current(cls, *, pid: int | None = None, run_id: str | None = None) -> Owner:
        """This process (or ``pid``) in this run (:func:`this_run_id`, unless given)."""
        pid = os.getpid() if pid is None else pid
        return cls(
            run_id=run_id or this_run_id(),
            pid=pid,
            pid_start=process_start_time(pid),
            host=host_name(),
        )

    @classmethod
    def for_session(cls, *, pid: int | None = None) -> Owner:
        """An owner for one backend session: a fresh run id, so that a session (an xdist
        worker) only ever removes the containers of its own in-flight starts."""
        return cls.current(pid=pid, run_id=uuid.uuid4().hex[:12])

    # --- where the owner is written ----------------------------------------------------

    def labels(self) -> dict[str, str]:
        """The container labels naming this owner."""
        labels = {
            LABEL_RUN_ID: self.run_id,
            LABEL_PID: str(self.pid),
            LABEL_HOST: self.host,
            LABEL_VERSION: kit_version(),
        }
        if self.pid_start is not None:
            labels[LABEL_PID_START] = self.pid_start
        return labels

    @classmethod
    def from_labels(cls, labels: Mapping[str, str]) -> Owner | None:
        """The owner container labels name, or None if they name no readable pid."""
        try:
            pid = int(labels[LABEL_PID])
        except (KeyError, ValueError):
            return None
        return cls(
            run_id=labels.get(LABEL_RUN_ID, "?"),
            pid=pid,
            pid_start=labels.get(LABEL_PID_START),
            host=labels.get(LABEL_HOST, host_name()),
        )

    def marker(self) -> dict[str, str | int | None]:
        """The fields a pid file records for this owner."""
        return {"owner_pid": self.pid, "owner_start": self.pid_start, "owner_host": self.host}

    @classmethod
    def from_marker(cls, record: Mapping[str, object]) -> Owner | None:
        """The owner a pid file's :meth:`marker` fields name, or None if unreadable
        (no ``owner_pid``: pid 0, which is never alive)."""
        try:
            pid = int(str(record.get("owner_pid", 0)))
        except ValueError:
            return None
        start = record.get("owner_start")
        host = record.get("owner_host")
        return cls(
            run_id="?",
            pid=pid,
            pid_start=None if start is None else str(start),
            host=host_name() if host is None else str(host),
        )

    @property
    def text(self) -> str:
        """The text marker: ``run=<id> host=<name> pid=<n> start=<ticks>`` (``start=0``: unknown)."""
        return f"run={self.run_id} host={self.host} pid={self.pid} start={self.pid_start or 0}"

    @classmethod
    def parse(cls, text: str | bytes | None) -> Owner | None:
        """The owner a text marker names, or None if it is not a well-formed marker."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        match = _TEXT.fullmatch((text or "").strip())
        if match is None:
            return None
        start = str(int(match["start"]))
        return cls(
            run_id=match["run"],
            host=match["host"],
            pid=int(match["pid"]),
            pid_start=None if start == "0" else start,
        )

    # --- liveness ----------------------------------------------------------------------

    def alive(self) -> bool:
        """False only when this owner is provably dead on this host (the one liveness check)."""
        if self.host != host_name():
            return True  # another machine's run: not ours to judge
        if not pid_alive(self.pid):
            return False
        if self.pid_start is None:
            return True
        current = process_start_time(self.pid)
        return current is None or current == self.pid_start

    def same_process(self, other: Owner) -> bool:
        """Whether ``other`` names the same process (host, pid, start time), whatever its run id."""
        return (self.host, self.pid, self.pid_start) == (other.host, other.pid, other.pid_start)

    def describe(self) -> str:
        """``run <id>, pid <n> on <host> (alive|dead|on another host)``."""
        state = "on another host" if self.host != host_name() else "alive" if self.alive() else "dead"
        return f"run {self.run_id}, pid {self.pid} on {self.host} ({state})"


def kit_version() -> str:
    try:
        return importlib.metadata.version("integration-kit")
    except importlib.metadata.PackageNotFoundError:  # run from a source tree
        return "unknown"


def owner_alive(labels: Mapping[str, str]) -> bool:
    """:meth:`Owner.alive` of the owner container labels name (unreadable means alive)."""
    owner = Owner.from_labels(labels)
    return owner is None or owner.alive()


def marker_alive(record: Mapping[str, object]) -> bool:
    """:meth:`Owner.alive` of the owner a pid file's :meth:`Owner.marker` fields name."""
    owner = Owner.from_marker(record)
    return owner is None or owner.alive()
