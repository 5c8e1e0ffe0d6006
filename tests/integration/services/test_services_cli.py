"""``integration-kit services check``: a real start of all three services, and a failure."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from integration_kit.cli import main
from integration_kit.config import Settings

pytestmark = pytest.mark.integration


@pytest.mark.slow
def test_services_check_json(docker_settings: Settings) -> None:
    result = CliRunner().invoke(main, ["services", "check", "--backend", "docker", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["backend"] == "docker"
    assert set(report["services"]) == {"postgres", "redis", "kafka"}
    for entry in report["services"].values():
        assert entry["ready_s"] > 0 and entry["via"] == "docker"
    assert report["total_s"] >= max(entry["ready_s"] for entry in report["services"].values())


def test_services_check_failure_prints_the_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(main, ["services", "check", "--backend", "docker"])
    assert result.exit_code == 1
    assert "error: IK-DOCKER-UNAVAILABLE" in result.output


def test_services_check_failure_json(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    result = CliRunner().invoke(main, ["services", "check", "--backend", "docker", "--json"])
    assert result.exit_code == 1
    assert json.loads(result.output)["error"] == "IK-DOCKER-UNAVAILABLE"
