"""The CLI and the serve harness on the local backend."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration_kit.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_services_check_local_json(
    runtime_dir: Path, monkeypatch: pytest.MonkeyPatch, require_local: Callable[[str], None]
) -> None:
    for kind in ("postgres", "redis", "kafka"):
        require_local(kind)
    monkeypatch.setenv("INTEGRATION_KIT_RUNTIME_DIR", str(runtime_dir))
    result = CliRunner().invoke(main, ["services", "check", "--backend", "local", "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["backend"] == "local"
    assert set(report["services"]) == {"postgres", "redis", "kafka"}
    for entry in report["services"].values():
        assert entry["ready_s"] > 0 and entry["via"] == "local"
    assert not list((runtime_dir / "services").iterdir()), "the check stops what it started"


def test_serve_runs_a_command_against_local_services(
    runtime_dir: Path, monkeypatch: pytest.MonkeyPatch, require_local: Callable[[str], None]
) -> None:
    for kind in ("postgres", "redis", "kafka"):
        require_local(kind)
    monkeypatch.setenv("INTEGRATION_KIT_RUNTIME_DIR", str(runtime_dir))
    probe = (
        "import os, redis; "
        "r = redis.Redis.from_url(os.environ['INTEGRATION_KIT_REDIS_URL']); "
        "assert r.ping(); "
        "assert os.environ['INTEGRATION_KIT_BACKEND'] == 'external'; "
        "assert os.environ['INTEGRATION_KIT_POSTGRES_URL'].startswith('postgresql://'); "
        "print(os.environ['INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS'])"
    )
    result = subprocess.run(
        [sys.executable, "-m", "integration_kit.services.serve", "--", sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().startswith("127.0.0.1:")
    assert not list((runtime_dir / "services").iterdir()), "serve stops what it started"
