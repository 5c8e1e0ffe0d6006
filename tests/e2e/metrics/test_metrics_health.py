"""Suite health in real pytest sessions: failure identity and groups, quarantine, notifications
to a local webhook and a command, coverage trending with pytest-cov, untracked test files."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from click.testing import CliRunner

from integration_kit.metrics.cli import metrics
from integration_kit.metrics.flaky import flaky_tests
from integration_kit.metrics.history import History

pytestmark = pytest.mark.e2e
PLUGINS = (
    "-p",
    "integration_kit.metrics.plugin",
    "-p",
    "no:faker",
    "-p",
    "no:cacheprovider",
    "-p",
    "no:randomly",
)


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INTEGRATION_KIT_") or name.lower().endswith("_proxy"):
            monkeypatch.delenv(name)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _history(pytester: pytest.Pytester) -> History:
    return History(pytester.path / ".integration-kit" / "history.sqlite", create=False)


FAILURES = """
import pytest
from integration_kit.errors import ErrorCode, KafkaError, ServiceError

@pytest.fixture
def postgres():
    raise ServiceError(ErrorCode.SVC_START_FAILED, service="postgres", cause="port 5432 taken")

def test_kit_error():
    raise KafkaError(ErrorCode.KAFKA_TOPIC_NOT_READY, timeout=1.5, pending="orders[0]")

@pytest.mark.parametrize("n", [1, 2])
def test_assertion(n):
    assert n == n + 1

def test_needs_postgres(postgres):
    pass

def test_passes():
    pass
"""


def test_failures_are_identified_and_grouped_with_infrastructure_apart(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_fail=FAILURES)
    for _ in range(2):
        pytester.runpytest(*PLUGINS).assert_outcomes(passed=1, failed=3, errors=1)
    with _history(pytester) as history:
        results = {r.nodeid.split("::")[1]: r for r in history.results(run_id=1)}
    assert results["test_kit_error"].failure_type == "IK-KAFKA-TOPIC-NOT-READY"
    assert results["test_assertion[1]"].failure_type == "AssertionError"
    assert results["test_assertion[1]"].failure_message == results["test_assertion[2]"].failure_message
    assert results["test_needs_postgres"].failure_type == "IK-SVC-START-FAILED"
    assert results["test_passes"].failure_type is None
    db = str(pytester.path / ".integration-kit" / "history.sqlite")
    out = CliRunner().invoke(metrics, ["failures", "--db", db, "--json"], catch_exceptions=False).output
    groups = {g["failure_type"]: g for g in json.loads(out)["groups"]}
    assert groups["AssertionError"]["count"] == 4 and groups["AssertionError"]["runs"] == 2
    assert len(groups["AssertionError"]["tests"]) == 2
    assert (groups["AssertionError"]["first_run"], groups["AssertionError"]["last_run"]) == (1, 2)
    assert (
        groups["IK-SVC-START-FAILED"]["infrastructure"]
        and not groups["IK-KAFKA-TOPIC-NOT-READY"]["infrastructure"]
    )
    table = CliRunner().invoke(metrics, ["failures", "--db", db], catch_exceptions=False).output
    assert table.index("Test failures") < table.index("Infrastructure failures")


QUARANTINE_SUITE = """
def test_flaky_one():
    assert 0, "a race"

def test_setup_flaky(broken):
    pass

def test_ok():
    pass

import pytest

@pytest.fixture
def broken():
    raise RuntimeError("setup race")
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_a_quarantined_failure_is_reported_but_does_not_fail_the_run(
    pytester: pytest.Pytester, workers: int
) -> None:
    if workers:
        pytest.importorskip("xdist")
    pytester.makepyfile(test_q=QUARANTINE_SUITE)
    entries = [
        {
            "nodeid": f"test_q.py::{name}",
            "reason": "race in the fixture, #42",
            "added": "2026-11-20T10:00:00+00:00",
        }
        for name in ("test_flaky_one", "test_setup_flaky")
    ]
    (pytester.path / "quarantine.json").write_text(json.dumps({"version": 1, "tests": entries}))
    result = pytester.runpytest(*PLUGINS, "-rx", *(("-n", str(workers)) if workers else ()))
    assert result.ret == pytest.ExitCode.OK
    result.assert_outcomes(passed=1, xfailed=2)
    result.stdout.fnmatch_lines(
        [
            "integration-kit quarantine: test_q.py::test_flaky_one failed, not failing the run "
            "(quarantined * days ago: race in the fixture, #42)",
            "*XFAIL*test_flaky_one*quarantined: race in the fixture, #42*",
        ]
    )
    with _history(pytester) as history:
        outcomes = {r.nodeid.split("::")[1]: r.outcome for r in history.results()}
    assert outcomes == {"test_flaky_one": "failed", "test_setup_flaky": "error", "test_ok": "passed"}
    (pytester.path / "quarantine.json").write_text("{broken")
    bad = pytester.runpytest(*PLUGINS)
    assert bad.ret == pytest.ExitCode.USAGE_ERROR
    bad.stderr.fnmatch_lines(["*IK-METRICS-QUARANTINE-INVALID*"])


class Hook:
    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                hook.bodies.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()


@pytest.fixture
def hook() -> Iterator[Hook]:
    server = Hook()
    yield server
    server.server.shutdown()
    server.server.server_close()
    server.thread.join()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_failing_run_notifies_every_target_once(pytester: pytest.Pytester, hook: Hook) -> None:
    received = pytester.path / "received.json"
    script = "import sys, pathlib; pathlib.Path('received.json').write_bytes(sys.stdin.buffer.read())"
    targets = [
        f"webhook:http://127.0.0.1:{hook.port}/hooks/SECRET",
        f'command:{sys.executable} -c "{script}"',
        f"webhook:http://127.0.0.1:{_closed_port()}/down",
    ]
    pytester.makepyprojecttoml(f"[tool.integration_kit]\nnotify = {json.dumps(targets)}\n")
    pytester.makepyfile(test_n="def test_ok(): pass\n")
    passing = pytester.runpytest(*PLUGINS)
    assert passing.ret == 0 and hook.bodies == [] and not received.exists()  # nothing to report
    pytester.makepyfile(test_n="def test_ok(): pass\n\ndef test_broken():\n    assert 1 == 2\n")
    result = pytester.runpytest(*PLUGINS)
    assert result.ret == pytest.ExitCode.TESTS_FAILED  # the dead webhook does not change it
    (body,) = hook.bodies
    assert body == json.loads(received.read_text())
    assert body["event"] == "integration-kit.run" and body["run_id"] == 2 and body["reasons"] == ["failures"]
    assert body["counts"]["failed"] == 1 and body["counts"]["passed"] == 1
    (failure,) = body["failures"]  # type: ignore[misc]
    assert failure == {
        "nodeid": "test_n.py::test_broken",
        "outcome": "failed",
        "failure_type": "AssertionError",
        "message": "assert N == N",
        "quarantined": False,
    }
    out = result.stdout.str()
    assert f"integration-kit notify: webhook http://127.0.0.1:{hook.port}/... sent (HTTP 204)" in out
    assert f"integration-kit notify: command {sys.executable} sent (exit status 0)" in out
    assert "/down" not in out and "SECRET" not in out
    result.stdout.fnmatch_lines(
        ["integration-kit notify: webhook http://127.0.0.1:*/... FAILED (*after 3 attempts)"]
    )


COVERED_PACKAGE = {
    "pkg/__init__.py": "",
    "pkg/core.py": "def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n",
    "pkg/extra/__init__.py": "",
    "pkg/extra/more.py": "def mul(a, b):\n    return a * b\n\n\ndef div(a, b):\n    return a / b\n",
}
COVERAGE_TESTS = """
from pkg.core import add, sub
from pkg.extra.more import div, mul

def test_add(): assert add(1, 2) == 3
def test_sub(): assert sub(3, 2) == 1
def test_mul(): assert mul(2, 3) == 6
def test_div(): assert div(6, 3) == 2
"""


@pytest.mark.parametrize("workers", [0, 2])
def test_coverage_is_recorded_and_a_drop_flagged(pytester: pytest.Pytester, workers: int) -> None:
    pytest.importorskip("pytest_cov", reason="pytest-cov is not installed")
    if workers:
        pytest.importorskip("xdist")
    for name, text in COVERED_PACKAGE.items():
        path = pytester.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    pytester.makepyfile(test_cov=COVERAGE_TESTS)
    extra = ("-n", str(workers)) if workers else ()
    args = (*PLUGINS, "--cov=pkg", "--cov-report=", *extra)
    pytester.runpytest_subprocess(*args).assert_outcomes(passed=4)
    pytester.runpytest_subprocess(*args, "-k", "not div and not mul").assert_outcomes(passed=2)
    with _history(pytester) as history:
        coverage = history.coverage()
    first, second = ({c.package: c for c in coverage[run]} for run in sorted(coverage))
    assert first[""].percent == 100.0 and first[""].statements == 8
    assert first["pkg"].percent == 100.0 and first["pkg/extra"].percent == 100.0
    assert second["pkg"].percent == 100.0 and second["pkg/extra"].percent == 50.0
    db = str(pytester.path / ".integration-kit" / "history.sqlite")
    result = CliRunner().invoke(metrics, ["coverage", "--db", db, "--json"], catch_exceptions=False)
    assert result.exit_code == 1  # the latest run dropped
    data = json.loads(result.output)
    assert [r["percent"] for r in data["runs"]] == [100.0, 75.0]
    assert {d["package"]: d["delta"] for d in data["drops"]} == {"(total)": -25.0, "pkg/extra": -50.0}
    table = CliRunner().invoke(metrics, ["coverage", "--db", db], catch_exceptions=False).output
    assert "coverage drop (total): 100.00% in run #1 -> 75.00% in run #2 (-25.00)" in table
    assert CliRunner().invoke(metrics, ["coverage", "--db", db, "--threshold", "60"]).exit_code == 0


@pytest.mark.skipif(shutil.which("git") is None, reason="git not installed")
def test_a_fixed_test_in_an_untracked_file_is_not_flaky(pytester: pytest.Pytester) -> None:
    """A new test file, not committed yet, fails and is then fixed: two different codes."""

    def git(*args: str) -> None:
        subprocess.run(
            ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
            cwd=pytester.path,
            check=True,
            capture_output=True,
        )

    (pytester.path / ".gitignore").write_text(".integration-kit/\n")
    git("init", "-q")
    git("add", "-A")
    git("commit", "-qm", "base")
    pytester.makepyfile(test_new="def test_new():\n    assert 1 + 1 == 3\n")
    pytester.runpytest(*PLUGINS).assert_outcomes(failed=1)
    pytester.makepyfile(test_new="def test_new():\n    assert 1 + 1 == 2\n")
    fixed = pytester.runpytest(*PLUGINS)
    fixed.assert_outcomes(passed=1)
    pytester.makepyfile(test_new="def test_new():\n    assert 1 + 1 == 3\n")  # and broken again
    broken = pytester.runpytest(*PLUGINS)
    assert "known flaky" not in fixed.stdout.str() + broken.stdout.str()
    with _history(pytester) as history:
        runs = history.runs()
        assert flaky_tests(history) == []
    assert len({r.git_dirty for r in runs}) == 2 and all(
        r.git_commit for r in runs
    )  # broken twice: same code
