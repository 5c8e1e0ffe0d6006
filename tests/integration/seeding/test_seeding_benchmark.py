"""benchmarks/seeding.py runs end to end (tiny sizes) and reports every figure as JSON."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from integration_kit.services.base import Endpoint

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SCRIPT = Path(__file__).resolve().parents[3] / "benchmarks" / "seeding.py"


@pytest.mark.parametrize("as_json", [True, False])
def test_the_benchmark_reports_its_figures(ik_postgres: Endpoint, as_json: bool) -> None:
    argv = [sys.executable, str(SCRIPT), "--rows", "600", "--row-by-row-rows", "100", "--runs", "1"]
    argv += ["--copy-chunk", "150"]  # the 360 order items in three COPY statements
    argv += ["--dsn", ik_postgres.dsn] + (["--json"] if as_json else [])
    env = {**os.environ, "COLUMNS": "160"}  # rich wraps narrower tables
    result = subprocess.run(argv, capture_output=True, text=True, timeout=300, check=False, env=env)
    assert result.returncode == 0, result.stderr[-3000:]
    if not as_json:
        assert "PostgresFactory.create_batch (COPY)" in result.stdout and "row by row" in result.stdout
        return
    figures = json.loads(result.stdout)
    for key in ("copy_rows_per_s", "executemany_rows_per_s", "row_by_row_rows_per_s", "build_rows_per_s"):
        assert figures[key] > 0, key
    assert figures["rows"] == 600 and figures["row_by_row_rows"] == 100 and figures["copy_chunk"] == 150
    assert figures["copy_vs_row_by_row"] == pytest.approx(
        figures["copy_rows_per_s"] / figures["row_by_row_rows_per_s"], rel=0.05
    )
