"""quarantine.py and `metrics quarantine`: a committed JSON file, only flaky tests go in."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from integration_kit.errors import ErrorCode, raises_code
from integration_kit.metrics.cli import metrics
from integration_kit.metrics.quarantine import QuarantinedTest, load_quarantine, save_quarantine

pytestmark = pytest.mark.unit
FLIPS = "tests/test_api.py::test_flips"


def _invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(metrics, list(args), catch_exceptions=False)
    return result.exit_code, result.output


def test_file_round_trips_sorted_and_ages(tmp_path: Path) -> None:
    path = tmp_path / "q" / "quarantine.json"
    assert load_quarantine(path) == {}
    added = dt.datetime(2026, 11, 28, 12, 0, tzinfo=dt.UTC)
    entries = {
        n: QuarantinedTest(nodeid=n, reason="race, #12", added=added, flip_rate=0.5) for n in ("t::b", "t::a")
    }
    save_quarantine(path, entries)
    data = json.loads(path.read_text())
    assert data["version"] == 1 and [t["nodeid"] for t in data["tests"]] == ["t::a", "t::b"]
    loaded = load_quarantine(path)
    assert loaded == entries
    now = dt.datetime(2026, 12, 1, 13, 0, tzinfo=dt.UTC)
    assert loaded["t::a"].age_text(now) == "3 days"
    assert loaded["t::a"].age_text(added + dt.timedelta(hours=2)) == "2 h"
    assert [p.name for p in path.parent.iterdir()] == ["quarantine.json"]  # no temp file left


@pytest.mark.parametrize("text", ["not json", '{"version": 2, "tests": []}', '{"version": 1, "tests": [{}]}'])
def test_a_bad_file_is_a_coded_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "quarantine.json"
    path.write_text(text)
    with raises_code(ErrorCode.METRICS_QUARANTINE_INVALID):
        load_quarantine(path)


def test_cli_quarantines_only_flaky_tests(history_file: Path, tmp_path: Path) -> None:
    file = tmp_path / "quarantine.json"
    common = ("--db", str(history_file), "--file", str(file))
    code, out = _invoke("quarantine", "add", "tests/test_api.py::test_steady", "--reason", "x", *common)
    assert code == 1 and "IK-METRICS-NOT-FLAKY" in out and not file.exists()
    code, out = _invoke("quarantine", "add", FLIPS, "--reason", "flips on CI, #7", *common)
    assert code == 0 and "flip rate" in out
    (entry,) = load_quarantine(file).values()
    assert entry.nodeid == FLIPS and entry.reason == "flips on CI, #7" and entry.flip_rate is not None
    code, out = _invoke("quarantine", "add", "t.py::new", "--reason", "known race", "--force", *common)
    assert code == 0
    code, out = _invoke("quarantine", "list", "--file", str(file), "--json")
    assert [e["nodeid"] for e in json.loads(out)] == ["t.py::new", FLIPS]
    code, out = _invoke("quarantine", "list", "--file", str(file))
    assert code == 0 and "flips on CI, #7" in out and "< 1 h" in out
    code, out = _invoke("quarantine", "remove", FLIPS, "--file", str(file))
    assert code == 0 and set(load_quarantine(file)) == {"t.py::new"}
    code, out = _invoke("quarantine", "remove", FLIPS, "--file", str(file))
    assert code == 1 and "is not quarantined" in out


@pytest.mark.parametrize("where", ["below-a-file", "a-directory", "unwritable"])
def test_an_unusable_quarantine_path_is_a_coded_error(
    tmp_path: Path, where: str, request: pytest.FixtureRequest
) -> None:
    entries = {FLIPS: QuarantinedTest(nodeid=FLIPS, reason="r", added=dt.datetime.now(dt.UTC))}
    if where == "below-a-file":
        (tmp_path / "file").write_text("x")
        path = tmp_path / "file" / "quarantine.json"
    elif where == "a-directory":
        path = tmp_path / "quarantine.json"
        path.mkdir()
    else:
        path = request.getfixturevalue("immutable_dir") / "sub" / "quarantine.json"
    before = sorted(p.name for p in tmp_path.rglob("*"))
    with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH) as caught:
        save_quarantine(path, entries)
    assert caught[0].context["key"] == "quarantine_file" and caught[0].context["path"] == path
    assert "quarantine_file" in caught[0].hint
    assert sorted(p.name for p in tmp_path.rglob("*")) == before  # no temp file left behind
    if where != "unwritable":  # a missing file there is an empty quarantine
        with raises_code(ErrorCode.CONFIG_UNUSABLE_PATH):
            load_quarantine(path)
    code, out = _invoke("quarantine", "add", FLIPS, "--reason", "r", "--force", "--file", str(path))
    if where == "a-directory":  # click's own check of --file comes first
        assert code == 2 and "is a directory" in out
    else:
        assert code == 1 and "IK-CONFIG-UNUSABLE-PATH" in out and "Traceback" not in out
