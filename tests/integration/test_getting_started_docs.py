"""docs/getting-started.md: its file blocks, written to a fresh project, pass as one run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integration_kit.services.base import Endpoint

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[2] / "docs" / "getting-started.md"
FILE_BLOCK = re.compile(r"^```\w+ file=(\S+)\n(.*?)^```", re.S | re.M)
OUTER_RUN = ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID")


def test_the_project_in_the_doc_passes(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, ik_redis: Endpoint
) -> None:
    files = FILE_BLOCK.findall(DOC.read_text())
    assert {name for name, _ in files} == {"pyproject.toml", "tests/test_first.py"}
    for name, text in files:
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    for name in OUTER_RUN:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("INTEGRATION_KIT_REDIS_URL", f"redis://{ik_redis.host}:{ik_redis.port}/0")
    monkeypatch.setenv("INTEGRATION_KIT_BACKEND", "auto")
    result = pytester.runpytest_subprocess("-p", "no:randomly")
    result.assert_outcomes(passed=3)
    result.stdout.fnmatch_lines(
        ["integration-kit: backend auto*", "integration-kit: 3 tests in * (integration 3)"]
    )
    # the header, and the marker selection the page shows
    pytester.runpytest_subprocess("-m", "not integration").assert_outcomes(deselected=3)
