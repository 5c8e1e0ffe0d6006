"""Helpers of the reuse tests (``processes_in`` is the backend tests' one, re-exported)."""

from __future__ import annotations

from process_scan import processes_in

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


__all__ = ["containers_of", "gone", "processes_in"]
