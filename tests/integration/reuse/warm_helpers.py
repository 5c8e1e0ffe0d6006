"""Helpers of the reuse tests."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from integration_kit.config import Settings
from integration_kit.services.ownership import pid_alive


def containers_of(settings: Settings, set_name: str) -> list[str]:
    """Ids of docker containers owned by warm set ``set_name`` (by its owner label)."""
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": "integration-kit.run-id"})
        return [c.id for c in found if c.labels["integration-kit.run-id"].startswith(f"warm-{set_name}")]
    finally:
        client.close()


def gone(pid: int) -> bool:
    return not pid_alive(pid)


def processes_in(path: Path) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                in_cmdline = str(path).encode() in (entry / "cmdline").read_bytes()
                cwd = Path(os.readlink(entry / "cwd"))
                if in_cmdline or cwd == path or path in cwd.parents:
                    found.append(int(entry.name))
    return found
