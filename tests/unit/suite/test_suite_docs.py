"""The Python blocks of docs/test-organization.md and docs/metrics.md run, in order, and
their ``# ...`` comments after a ``print(...)`` are the real output."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from docs_examples import BLOCK

from integration_kit.metrics.history import History, ResultRecord, RunRecord

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[3] / "docs"


def _run_blocks(doc: Path) -> tuple[list[str], list[str]]:
    namespace: dict[str, object] = {"__name__": f"docs_{doc.stem}"}
    out = io.StringIO()
    expected: list[str] = []
    text = doc.read_text()
    for number, match in enumerate(BLOCK.finditer(text)):
        lines = match.group(1).splitlines()
        for index, line in enumerate(lines):
            if line.startswith(("print(", "    print(")):
                for comment in lines[index + 1 :]:
                    if not comment.lstrip().startswith("# "):
                        break
                    expected.append(comment.lstrip()[2:])
        where = f"{doc.name}:{text[: match.start()].count(chr(10)) + 2} (block {number})"
        with contextlib.redirect_stdout(out):
            exec(compile(match.group(1), where, "exec"), namespace)
    return expected, out.getvalue().splitlines()


@pytest.mark.parametrize("name", ["test-organization.md", "metrics.md"])
def test_doc_blocks_run_and_print_what_they_say(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with History(tmp_path / ".integration-kit" / "history.sqlite") as history:  # metrics.md reads one
        for outcome in ("passed", "failed", "passed"):
            history.record(
                RunRecord(started_at=1.0, finished_at=2.0, git_commit="c"),
                [ResultRecord(nodeid="t.py::test_x", outcome=outcome)],
            )
    expected, printed = _run_blocks(DOCS / name)
    if name == "test-organization.md":
        assert expected, "the page shows printed output"
        assert printed == expected
    else:  # metrics.md also prints the flaky tests of the history made above
        assert all(line in printed for line in expected) and expected
        assert any("t.py::test_x" in line for line in printed)
