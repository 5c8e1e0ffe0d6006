"""benchmarks/startup.py runs and prints the figures the issue asks for (one run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from integration_kit.config import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
SCRIPT = Path(__file__).resolve().parents[4] / "benchmarks" / "startup.py"


def test_json_medians(docker_settings: Settings) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "1", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    assert figures["backend"] == "docker"
    assert set(figures["median_s"]) == {"postgres", "redis", "kafka", "sequential", "parallel"}
    assert all(value > 0 for value in figures["median_s"].values())
    assert figures["parallel_vs_sequential"] > 0
    assert figures["parallel_vs_slowest_alone"] > 0
