"""docs/mocks.md's fidelity table is the one the fidelity suite generates."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit
ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tests" / "fidelity" / "fidelity_table.py"


def _check(*extra: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--check", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_the_table_matches_the_suite() -> None:
    result = _check()
    assert result.returncode == 0, result.stderr[-3000:]


def test_a_table_that_disagrees_is_caught(tmp_path: Path) -> None:
    page = (ROOT / "docs" / "mocks.md").read_text()
    row = next(line for line in page.splitlines() if line.startswith("| Redis | strings | exact |"))
    count = int(row.rstrip(" |").rsplit("|", 1)[1])
    wrong = tmp_path / "mocks.md"
    wrong.write_text(page.replace(row, row.replace(f"| {count} |", f"| {count + 1} |")))
    result = _check("--doc", str(wrong))
    assert result.returncode == 1
    assert "disagree" in result.stderr
