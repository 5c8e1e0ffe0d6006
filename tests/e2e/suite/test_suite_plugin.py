"""The suite plugin in real pytest sessions: leaked-state warnings and lint-tests in the summary."""

from __future__ import annotations

import os

import pytest

pytestmark = pytest.mark.e2e
PLUGINS = (
    "-p",
    "integration_kit.suite.plugin",
    "-p",
    "no:faker",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
)

LEAKY = """
import os
import threading
from pathlib import Path

import pytest

STOP = threading.Event()

@pytest.fixture(scope="session")
def shared_thread():
    thread = threading.Thread(target=STOP.wait, name="session-pool", daemon=True)
    thread.start()
    yield
    STOP.set()

def test_leaks_a_thread_and_env(shared_thread):
    threading.Thread(target=STOP.wait, name="forgotten-worker", daemon=True).start()
    os.environ["IK_LEAKED_TOKEN"] = "s3cr3t"

def test_leaks_a_file():
    Path("left-behind.txt").write_text("x")

def test_cleans_up(monkeypatch, tmp_path):
    monkeypatch.setenv("IK_FINE", "1")
    thread = threading.Thread(target=lambda: None)
    thread.start()
    thread.join()

def test_last():
    STOP.set()
"""


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INTEGRATION_KIT_"):
            monkeypatch.delenv(name)
    monkeypatch.delenv("IK_LEAKED_TOKEN", raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_leaked_state_is_a_warning_with_the_tests_name(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_leaky=LEAKY)
    result = pytester.runpytest(*PLUGINS, "--ik-leaks")
    result.assert_outcomes(passed=4, warnings=2)
    out = result.stdout.str()
    assert (
        "test_leaky.py::test_leaks_a_thread_and_env leaked state: "
        "1 thread(s) still running: forgotten-worker; environment variable(s) set: IK_LEAKED_TOKEN"
    ) in out
    assert (
        "test_leaky.py::test_leaks_a_file leaked state: 1 file(s) created under the rootdir: left-behind.txt"
        in out
    )
    assert "s3cr3t" not in out and "session-pool" not in out and "test_cleans_up leaked" not in out
    assert "LeakWarning" in out
    os.environ.pop("IK_LEAKED_TOKEN", None)
    (pytester.path / "left-behind.txt").unlink()
    quiet = pytester.runpytest(*PLUGINS)  # off by default
    quiet.assert_outcomes(passed=4)
    assert "leaked state" not in quiet.stdout.str()
    os.environ.pop("IK_LEAKED_TOKEN", None)


def test_lint_findings_in_the_terminal_summary(pytester: pytest.Pytester) -> None:
    (pytester.path / "tests" / "unit").mkdir(parents=True)
    (pytester.path / "tests" / "unit" / "test_slow.py").write_text(
        "import time\n\n\ndef test_waits():\n    time.sleep(0.01)\n    assert (1, 'x')\n"
    )
    result = pytester.runpytest(*PLUGINS, "--ik-lint-tests", "tests")
    result.assert_outcomes(passed=1)  # findings do not fail the run
    result.stdout.fnmatch_lines(
        [
            "*integration-kit lint-tests*",
            "tests/unit/test_slow.py:5: IKT010 sleep-in-test: time.sleep() in test test_waits (*",
            "tests/unit/test_slow.py:6: IKT009 assert-tuple: *",
            "2 finding(s)",
        ]
    )
    assert "lint-tests" not in pytester.runpytest(*PLUGINS, "tests").stdout.str()
