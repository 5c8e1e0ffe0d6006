"""benchmarks/startup.py on the local backend, and two backends side by side (one run)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "startup.py"


def _run(*args: str) -> dict:
    unset = {
        "INTEGRATION_KIT_POSTGRES_URL",
        "INTEGRATION_KIT_REDIS_URL",
        "INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS",
    }
    env = {key: value for key, value in os.environ.items() if key not in unset}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--json", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_local_figures(require_local: Callable[[str], None]) -> None:
    for kind in ("postgres", "redis", "kafka"):
        require_local(kind)
    figures = _run("--backend", "local")
    assert figures["backend"] == "local"
    assert set(figures["median_s"]) == {
        "postgres",
        "postgres_initdb",
        "redis",
        "kafka",
        "sequential",
        "parallel",
    }
    assert all(value > 0 for value in figures["median_s"].values())
    assert figures["targets_s"]["postgres_initdb"] == 1.5


def test_backends_side_by_side(require_local: Callable[[str], None]) -> None:
    require_local("redis")
    # external needs URLs: without them it is reported as not measured, next to local.
    figures = _run("--backend", "local,external")
    assert set(figures["backends"]) == {"local"}
    assert figures["relative_to"] == "local"
    assert "external" in figures["not_measured"]
