"""Helpers of the reuse tests."""

from __future__ import annotations

from integration_kit.config import Settings
from integration_kit.services.ownership import pid_alive


def containers_of(settings: Settings, set_name: str) -> list[str]:
    """Ids of docker containers owned by warm set ``set_name`` (by its owner label)."""
    import docker

    client = docker.from_env()
    try:
        found = client.containers.list(all=True, filters={"label": f"integration-kit.run-id=warm-{set_name}"})
        return [c.id for c in found]
    finally:
        client.close()


def gone(pid: int) -> bool:
    return not pid_alive(pid)
