"""cli.py: the `metrics` click group reads the history and prints tables or JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration_kit.metrics.cli import metrics, project_root

pytestmark = pytest.mark.unit


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(metrics, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_flaky_json_and_table(history_file: Path) -> None:
    code, out = _invoke("flaky", "--db", str(history_file), "--json")
    assert code == 0
    data = json.loads(out)
    assert data["window"] == 20
    assert [f["nodeid"] for f in data["flaky"]] == ["tests/test_api.py::test_flips"]
    code, out = _invoke("flaky", "--db", str(history_file), "--window", "1")
    assert code == 0 and "No flaky tests in the last 1 runs" in out
    code, out = _invoke("flaky", "--db", str(history_file))
    assert code == 0 and "test_flips" in out and "passed" in out


def test_trends(history_file: Path) -> None:
    code, out = _invoke("trends", "--db", str(history_file), "--json")
    data = json.loads(out)
    assert [r["nodeid"] for r in data["regressions"]] == ["tests/test_e2e.py::test_slower"]
    assert data["slowest"][0]["nodeid"] == "tests/test_e2e.py::test_slower"
    assert {c["category"] for c in data["categories"]} == {"unit", "integration", "e2e", "other"}
    assert len(data["runs"]) == 12
    code, out = _invoke("trends", "--db", str(history_file))
    assert code == 0 and "Duration regressions" in out and "Slowest tests" in out


def test_shards(history_file: Path) -> None:
    code, out = _invoke("shards", "2", "--db", str(history_file), "--json")
    plan = json.loads(out)
    assert code == 0 and plan["count"] == 2
    assert sum(s["tests"] for s in plan["shards"]) == 4
    code, out = _invoke("shards", "2", "--db", str(history_file), "--tests")
    assert code == 0 and "2/2" in out and "test_slower" in out


def test_report_and_runs(history_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "r.html"
    code, out = _invoke("report", "--db", str(history_file), "-o", str(target))
    assert code == 0 and target.is_file() and "<svg" in target.read_text()
    code, out = _invoke("runs", "--db", str(history_file), "--json", "--last", "3")
    assert [r["id"] for r in json.loads(out)] == [10, 11, 12]
    code, out = _invoke("runs", "--db", str(history_file))
    assert code == 0 and "#12" in out


def test_merge(history_file: Path, tmp_path: Path) -> None:
    target = tmp_path / "all.sqlite"
    code, out = _invoke("merge", "--db", str(target), str(history_file), str(history_file))
    assert code == 0 and out.count("merged 12 runs") == 2
    code, out = _invoke("runs", "--db", str(target), "--json", "--last", "100")
    assert len(json.loads(out)) == 24


def test_missing_history_is_reported_with_its_code(tmp_path: Path) -> None:
    result = CliRunner().invoke(metrics, ["flaky", "--db", str(tmp_path / "none.sqlite")])
    assert result.exit_code == 1
    assert "IK-METRICS-NO-HISTORY" in result.output


def test_default_path_is_under_the_project_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.integration_kit]\nmetrics_db = "var/h.sqlite"\n')
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    monkeypatch.delenv("INTEGRATION_KIT_METRICS_DB", raising=False)
    assert project_root() == tmp_path
    result = CliRunner().invoke(metrics, ["runs"])
    assert result.exit_code == 1 and str(tmp_path / "var" / "h.sqlite") in result.output


def test_prune(history_file: Path) -> None:
    code, out = _invoke("prune", "--db", str(history_file), "--keep", "5", "--vacuum")
    assert code == 0 and "deleted 7 runs" in out
    code, out = _invoke("runs", "--db", str(history_file), "--json")
    assert [r["id"] for r in json.loads(out)] == [8, 9, 10, 11, 12]
