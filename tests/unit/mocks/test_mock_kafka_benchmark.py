"""The mock Kafka benchmark runs and reports what benchmarks/mocks.py reads (no timing asserted)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType

import pytest

pytestmark = pytest.mark.unit

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "mock_kafka_throughput.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("mock_kafka_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_measure_mock_kafka_returns_a_rate() -> None:
    bench = _load()
    assert bench.measure_mock_kafka(2000) > 0
    assert bench.measure_mock_kafka(500, wait_each=True) > 0


def test_json_output_has_the_agreed_key(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS", raising=False)
    bench = _load()
    assert bench.main(["-n", "1000", "--runs", "1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["mock_kafka_msgs_per_s"] > 0
    assert report["real_kafka_msgs_per_s"] is None
