"""The demo: the example order service's own suite (examples/orders), run as its users run it.

A separate pytest run in the example's directory (its own pyproject.toml configures
pytest) under ``-n 2``: unit tests on the mocks, integration tests on the base classes,
e2e tests of the API and the worker as processes, contract tests. Every test must pass
(no skip), on whichever backend this run uses, and the run prints the kit's summary.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "orders"
#: Variables of this run that would make the inner run think it is an xdist worker.
OUTER_ONLY = (
    "PYTEST_XDIST_WORKER",
    "PYTEST_XDIST_WORKER_COUNT",
    "PYTEST_XDIST_TESTRUNUID",
    "PYTEST_CURRENT_TEST",
    "PYTEST_ADDOPTS",
)


def test_the_example_suite_passes_under_xdist_without_skips(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if key not in OUTER_ONLY}
    junit = tmp_path / "junit.xml"
    argv = [
        sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider",
        f"--junitxml={junit}", f"--ik-metrics-db={tmp_path / 'history.sqlite'}",
    ]  # fmt: skip
    result = subprocess.run(
        argv, cwd=EXAMPLE, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    suite = ET.parse(junit).getroot().find("testsuite")
    assert suite is not None
    counts = {name: int(suite.get(name, "0")) for name in ("tests", "failures", "errors", "skipped")}
    assert counts["tests"] >= 40, counts
    assert counts["failures"] == counts["errors"] == counts["skipped"] == 0, counts
    summary = output[output.index("integration-kit: ") :]
    assert "integration-kit: backend " in summary
    for category in ("unit", "integration", "e2e", "contract"):
        assert f"{category} " in summary, summary
