"""Order dependence in real pytest sessions: the pollution bisect finds a hidden polluter
within ceil(log2 n) + 1 runs, --ik-shuffle reproduces its order from the seed (also under
xdist), and the flaky detector tells "fails only after X" from "fails at random"."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections.abc import Callable

import pytest

from integration_kit.metrics.flaky import flaky_tests
from integration_kit.metrics.history import History
from integration_kit.suite.order import shuffle_items

pytestmark = pytest.mark.e2e
PLUGINS = ("-p", "integration_kit.metrics.plugin", "-p", "integration_kit.suite.plugin")
QUIET = ("-p", "no:faker", "-p", "no:cacheprovider", "-p", "no:randomly")
TARGET = "test_z.py::test_target"
POLLUTER = "test_a.py::test_sets_cache"

STATE = "STATE = {}\n"
TARGET_MODULE = """
import shared_state

def test_target():
    assert "cache" not in shared_state.STATE, "a cache left over from an earlier test"
"""


def _module_a(count: int, polluter_at: int) -> str:
    lines = ["import shared_state\n"]
    for i in range(count):
        if i == polluter_at:
            lines.append("def test_sets_cache():\n    shared_state.STATE['cache'] = 1\n")
        else:
            lines.append(f"def test_{i:02d}():\n    shared_state.STATE.setdefault('calls', 0)\n")
    return "\n".join(lines)


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("INTEGRATION_KIT_"):
            monkeypatch.delenv(name)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _history(pytester: pytest.Pytester) -> History:
    return History(pytester.path / ".integration-kit" / "history.sqlite", create=False)


def _order(history: History, run_id: int) -> list[str]:
    results = history.results(run_id=run_id)
    return [r.nodeid for r in sorted(results, key=lambda r: (r.worker or "", r.position or 0))]


def _pollution(pytester: pytest.Pytester, *args: str) -> tuple[int, dict[str, object]]:
    command = [sys.executable, "-m", "integration_kit.cli", "tests", "pollution", TARGET, "--json", *args]
    command += ["--", *QUIET]
    done = subprocess.run(
        command, cwd=pytester.path, capture_output=True, text=True, check=False, timeout=600
    )
    return done.returncode, json.loads(done.stdout or "{}")


@pytest.mark.parametrize("polluter_at", [3, 14])
def test_pollution_finds_the_hidden_polluter_within_log2_runs(
    pytester: pytest.Pytester, polluter_at: int
) -> None:
    pytester.makepyfile(shared_state=STATE, test_a=_module_a(15, polluter_at), test_z=TARGET_MODULE)
    suite = pytester.runpytest(*PLUGINS, *QUIET)
    suite.assert_outcomes(passed=15, failed=1)
    n = 16  # tests in the suite; 15 ran before the target
    code, result = _pollution(pytester)
    assert code == 0, result
    assert result["polluter"] == POLLUTER
    assert result["candidates"] == 15 and result["passes_alone"] in (True, None)
    assert isinstance(result["runs"], int) and result["runs"] <= math.ceil(math.log2(n)) + 1
    # the bisection's runs are not recorded into the real history
    with _history(pytester) as history:
        assert len(history.runs()) == 1


def test_pollution_refuses_a_test_that_fails_alone(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        shared_state=STATE,
        test_a=_module_a(3, -1),
        test_z="def test_target():\n    assert 0, 'broken itself'\n",
    )
    pytester.runpytest(*PLUGINS, *QUIET).assert_outcomes(passed=3, failed=1)
    code, result = _pollution(pytester)
    assert code == 1 and result["error"] == "IK-SUITE-FAILS-ALONE"


def test_shuffle_with_a_seed_reproduces_its_order(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_m1="def test_a(): pass\ndef test_b(): pass\ndef test_c(): pass\n",
        test_m2=(
            "class TestK:\n    def test_a(self): pass\n    def test_b(self): pass\n\n\ndef test_f(): pass\n"
        ),
        test_m3="import pytest\n@pytest.mark.parametrize('n', range(4))\ndef test_p(n): pass\n",
    )
    first = pytester.runpytest(*PLUGINS, *QUIET, "--ik-shuffle=1234")
    first.assert_outcomes(passed=10)
    first.stdout.fnmatch_lines(
        ["integration-kit shuffle: seed 1234 (repeat this order with --ik-shuffle=1234)"]
    )
    pytester.runpytest(*PLUGINS, *QUIET, "--ik-shuffle=1234").assert_outcomes(passed=10)
    pytester.runpytest(*PLUGINS, *QUIET, "--ik-shuffle=77").assert_outcomes(passed=10)
    plain = pytester.runpytest(*PLUGINS, *QUIET)
    fresh = pytester.runpytest(*PLUGINS, *QUIET, "--ik-shuffle")
    with _history(pytester) as history:
        runs = history.runs()
        orders = [_order(history, run.id) for run in runs]
    assert [run.seed for run in runs[:4]] == ["1234", "1234", "77", None]
    assert orders[0] == orders[1] != orders[2]
    assert orders[3] != orders[0] and sorted(orders[0]) == sorted(orders[3])
    assert orders[0] == shuffle_items(orders[3], "1234")  # the order follows from the seed alone
    seed = runs[4].seed
    assert seed is not None and seed.isdigit() and f"seed {seed}" in fresh.stdout.str()
    assert "integration-kit shuffle" not in plain.stdout.str()


def test_shuffle_under_xdist_uses_the_controllers_seed(pytester: pytest.Pytester) -> None:
    pytest.importorskip("xdist")
    pytester.makepyfile(**{f"test_x{i}": "def test_a(): pass\ndef test_b(): pass\n" for i in range(4)})
    result = pytester.runpytest(*PLUGINS, *QUIET, "-n", "2", "--ik-shuffle")  # xdist fails if workers differ
    result.assert_outcomes(passed=8)
    with _history(pytester) as history:
        (run,) = history.runs()
    assert run.seed is not None and run.workers == 2


def test_a_detached_value_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    (pytester.path / "var").mkdir()
    for args in (
        ("--ik-metrics-db", "var/h.sqlite"),
        ("--ik-shuffle", "test_one.py"),
        ("--ik-run-order", "x"),
    ):
        result = pytester.runpytest(*PLUGINS, *QUIET, *args)
        assert result.ret == pytest.ExitCode.USAGE_ERROR, args
        result.stderr.fnmatch_lines([f"*IK-METRICS-DETACHED-VALUE*{args[0]}*", f"*Write {args[0]}=VALUE*"])
    result = pytester.runpytest(*PLUGINS, *QUIET, "--ik-shuffle=often")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--ik-shuffle takes an integer seed*"])
    pytester.runpytest(*PLUGINS, *QUIET, "--ik-shuffle", "-q").assert_outcomes(passed=1)  # flag form


def test_flaky_detector_tells_order_dependence_from_random_failures(pytester: pytest.Pytester) -> None:
    random_module = """
from pathlib import Path
COUNTER = Path(__file__).with_name("counter.txt")

def test_random():
    runs = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(runs + 1))
    assert runs != 1, "fails on the second run, whatever the order"
"""
    polluter = "def test_sets_cache():\n    import shared_state\n    shared_state.STATE['cache'] = 1\n"
    pytester.makepyfile(
        shared_state=STATE,
        test_a=_module_a(3, -1),
        test_p=polluter,
        test_z=TARGET_MODULE,
        test_r=random_module,
    )
    collected = [
        line
        for line in pytester.runpytest(*PLUGINS, *QUIET, "--collect-only", "-q").stdout.lines
        if "::" in line
    ]
    polluter_id, random_id = "test_p.py::test_sets_cache", "test_r.py::test_random"

    def seed_where(wanted: Callable[[list[str]], bool]) -> str:
        return next(s for s in map(str, range(2000)) if wanted(shuffle_items(collected, s)))

    def modules(order: list[str]) -> list[str]:
        return list(dict.fromkeys(n.split("::")[0] for n in order))

    seeds = [
        seed_where(lambda o: o.index(polluter_id) < o.index(TARGET)),  # target fails
        seed_where(
            lambda o: modules(o) == ["test_r.py", "test_a.py", "test_z.py", "test_p.py"]
        ),  # r fails first
        seed_where(lambda o: o.index(polluter_id) < o.index(TARGET) and o.index(TARGET) < o.index(random_id)),
        seed_where(lambda o: o.index(TARGET) < o.index(polluter_id)),
    ]
    for seed in seeds:
        pytester.runpytest(*PLUGINS, *QUIET, f"--ik-shuffle={seed}")
    with _history(pytester) as history:
        found = {f.nodeid: f for f in flaky_tests(history, window=10)}
        assert [run.seed for run in history.runs()] == seeds
    target, rand = found[TARGET], found[random_id]
    assert target.outcomes == ("failed", "passed", "failed", "passed")
    assert target.pattern == "order" and target.after == (polluter_id,)
    assert any(r.startswith(f"fails only after {polluter_id}: it ran before each") for r in target.reasons)
    assert rand.outcomes == ("passed", "failed", "passed", "passed")
    assert rand.pattern == "random" and any(r.startswith("fails at random") for r in rand.reasons)


def test_pytest_find_polluter_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(shared_state=STATE, test_a=_module_a(5, 2), test_z=TARGET_MODULE)
    pytester.runpytest(*PLUGINS, *QUIET).assert_outcomes(passed=5, failed=1)
    result = pytester.runpytest_subprocess(*PLUGINS, *QUIET, f"--ik-find-polluter={TARGET}")
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        [f"integration-kit: bisecting the 5 test(s) that ran before {TARGET} in run #1", "  run 1: *"]
    )
    result.stderr.fnmatch_lines([f"*polluter of {TARGET}: {POLLUTER} (* runs)*"])
    runs = [line for line in result.stdout.lines if line.startswith("  run ")]
    assert len(runs) <= math.ceil(math.log2(5)) + 1
