"""Who wrote a piece of data on a shared server: the marker the kit leaves next to it.

The kit marks what it creates in a server it may share with others (a Redis database
or key prefix, a PostgreSQL database's comment) with a :class:`DataOwner`: run id,
host, pid and that process's start time. Another run, on this machine or elsewhere,
reads the marker back and removes the data only when the marker names itself, or a
run that is *provably* dead on this host (same host name, and the pid gone or reused by
a process with another start time). A marker from another host, or one that does not
parse, counts as alive: its data is never removed.

The text form is ``run=<id> host=<name> pid=<n> start=<ticks>`` (``start=0``: unknown).
"""

from __future__ import annotations

import os
import re
import socket
import uuid
from dataclasses import dataclass
from pathlib import Path

RUN_ID_ENV = "PYTEST_XDIST_TESTRUNUID"
_TEXT = re.compile(r"run=(?P<run>[A-Za-z0-9_.-]+) host=(?P<host>\S+) pid=(?P<pid>\d+) start=(?P<start>\d+)")
_PROCESS_RUN_ID = uuid.uuid4().hex[:12]


def host_name() -> str:
    """This machine's host name, without spaces (it is one token of the marker)."""
    return re.sub(r"\s", "_", socket.gethostname()) or "localhost"


def process_start(pid: int) -> int:
    """Start time of ``pid`` in clock ticks since boot; 0 where it cannot be read."""
    try:
        data = Path(f"/proc/{pid}/stat").read_bytes()
    except OSError:
        return 0
    # the command name may contain spaces and parentheses: split after the last ')'
    fields = data[data.rfind(b")") + 2 :].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def run_id() -> str:
    """The pytest-xdist run id when there is one (shared by the workers), else one per process."""
    found = os.environ.get(RUN_ID_ENV, "")
    return found if re.fullmatch(r"[A-Za-z0-9_.-]+", found) else _PROCESS_RUN_ID


@dataclass(frozen=True, kw_only=True)
class DataOwner:
    """The process that wrote a marker, and the run it belongs to."""

    run_id: str
    host: str
    pid: int
    start: int

    @classmethod
    def current(cls) -> DataOwner:
        """This process in this run."""
        pid = os.getpid()
        return cls(run_id=run_id(), host=host_name(), pid=pid, start=process_start(pid))

    @classmethod
    def parse(cls, text: str | bytes | None) -> DataOwner | None:
        """The owner a marker names, or None if it is not a well-formed marker."""
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        match = _TEXT.fullmatch((text or "").strip())
        if match is None:
            return None
        return cls(run_id=match["run"], host=match["host"], pid=int(match["pid"]), start=int(match["start"]))

    @property
    def text(self) -> str:
        return f"run={self.run_id} host={self.host} pid={self.pid} start={self.start}"

    def provably_dead(self) -> bool:
        """True only for an owner on this host whose pid is gone or belongs to a newer process."""
        if self.host != host_name():
            return False  # another machine's run: not ours to judge
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            pass  # exists, owned by another user
        if not self.start:
            return False
        current = process_start(self.pid)
        return bool(current) and current != self.start

    def describe(self) -> str:
        state = (
            "dead" if self.provably_dead() else ("alive" if self.host == host_name() else "on another host")
        )
        return f"run {self.run_id}, pid {self.pid} on {self.host} ({state})"
