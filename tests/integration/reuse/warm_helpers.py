"""Helpers of the reuse tests (``processes_in`` is the backend tests' one, re-exported)."""

from __future__ import annotations

from pathlib import Path

import pytest
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


#: The inner runs' pytest configuration (the kit's classes share one loop per run).
INNER_INI = """
[pytest]
asyncio_mode = auto
asyncio_default_fixture_loop_scope = session
"""


def prepare_inner_run(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, settings: Settings) -> Path:
    """An inner pytest project on ``settings``' backend and runtime directory, outside any
    xdist or CI run; returns the directory its tests write to (``IK_TEST_OUT``)."""
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", settings.backend)
    monkeypatch.setenv("INTEGRATION_KIT_RUNTIME_DIR", str(settings.runtime_dir))
    out = pytester.path / "out"
    out.mkdir()
    monkeypatch.setenv("IK_TEST_OUT", str(out))
    pytester.makeini(INNER_INI)
    return out


__all__ = ["INNER_INI", "containers_of", "gone", "prepare_inner_run", "processes_in"]
