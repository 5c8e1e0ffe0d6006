"""benchmarks/mocks.py runs and prints the figures the issue asks for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "mocks.py"


def test_json_output_has_the_required_figures() -> None:
    env = {k: v for k, v in os.environ.items() if k != "INTEGRATION_KIT_REDIS_URL"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--json", "--runs", "1", "--rounds", "5", "--kafka-messages", "500"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    figures = json.loads(result.stdout)
    for key in ("mock_kafka_msgs_per_s", "mock_redis_ops_per_s", "fakeredis_ops_per_s"):
        assert key in figures
    assert figures["mock_redis_ops_per_s"] > 0
    assert figures["fakeredis_ops_per_s"] > 0
    assert figures["ttl_scenario_1h_wall_s"] < 3600  # an hour of expiry without sleeping
    assert figures["real_redis_ops_per_s"] is None
    assert figures["mock_kafka_msgs_per_s"] > 0  # benchmarks/mock_kafka_throughput.py is here
    assert figures["mock_kafka_cpu_msgs_per_s"] >= figures["mock_kafka_msgs_per_s"] * 0.5
    assert figures["mock_redis_vs_fakeredis"] > 0


def test_bad_arguments_are_refused() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--runs", "0"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "must be >= 1" in result.stderr
