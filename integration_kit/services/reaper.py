"""Leftovers of dead runs: label what we start, and remove what a dead owner left.

Every container the kit starts carries :func:`owner_labels`: the run id, the owner's
pid, that process's start time (so a recycled pid does not pass for the owner), the
host name and the kit version. At the start of a session :func:`reap_containers`
removes the containers whose owner process on this host is gone (a run killed with
SIGKILL, a crashed interpreter). It needs no Ryuk container, so it works with
``TESTCONTAINERS_RYUK_DISABLED=true``; with Ryuk enabled both clean up.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

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


OWNER_PID_ENV = "INTEGRATION_KIT_OWNER_PID"


def owner_pid() -> int:
    """The process that owns what this one starts: ``INTEGRATION_KIT_OWNER_PID`` if set
    (e.g. the pytest-xdist controller, which outlives its workers), else this process."""
    raw = os.environ.get(OWNER_PID_ENV, "").strip()
    return int(raw) if raw.isdigit() else os.getpid()


def owner_labels(run_id: str, *, pid: int | None = None) -> dict[str, str]:
    """Labels naming the owner (:func:`owner_pid` by default) of a container."""
    from integration_kit import __version__

    pid = owner_pid() if pid is None else pid
    labels = {
        LABEL_RUN_ID: run_id,
        LABEL_PID: str(pid),
        LABEL_HOST: socket.gethostname(),
        LABEL_VERSION: __version__,
    }
    started = process_start_time(pid)
    if started is not None:
        labels[LABEL_PID_START] = started
    return labels


def owner_alive(labels: dict[str, str]) -> bool:
    """Whether the process that the labels name still runs (unknown means alive)."""
    if labels.get(LABEL_HOST, socket.gethostname()) != socket.gethostname():
        return True  # another machine's run: not ours to judge
    try:
        pid = int(labels[LABEL_PID])
    except (KeyError, ValueError):
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # exists, owned by someone else
    recorded = labels.get(LABEL_PID_START)
    if recorded is None:
        return True
    current = process_start_time(pid)
    return current is None or current == recorded


def labelled_containers(client: Any, label: str) -> list[tuple[str, dict[str, str]]]:
    """``(id, labels)`` of every container (running or not) with ``label`` (``key`` or ``key=value``).

    One list call, no inspection per container: docker-py's ``containers.list()`` inspects
    each one it lists and raises NotFound when any of them is removed meanwhile (another
    run's teardown), which would abort a reap or a cleanup half-way.
    """
    return [
        (c["Id"], dict(c.get("Labels") or {}))
        for c in client.api.containers(all=True, filters={"label": label})
    ]


def remove_container(client: Any, container_id: str) -> bool:
    """Remove a container and its anonymous volumes; False if it is already gone or going."""
    import docker.errors

    try:
        client.api.remove_container(container_id, force=True, v=True)
    except docker.errors.NotFound:
        return False
    except docker.errors.APIError as exc:
        if "already in progress" in str(exc):
            return False
        raise
    return True


def reap_containers(client: Any) -> int:
    """Remove containers whose owner is dead; return how many were removed."""
    removed = 0
    for container_id, labels in labelled_containers(client, LABEL_PID):
        if not owner_alive(labels) and remove_container(client, container_id):
            removed += 1
    return removed
