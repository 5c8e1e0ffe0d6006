"""The metrics plugin in real pytest sessions: recording, flaky detection, sharding, xdist."""

from __future__ import annotations

import re

import pytest

from integration_kit.metrics.flaky import flaky_tests
from integration_kit.metrics.history import History, ResultRecord, RunRecord
from integration_kit.metrics.report import render_report

pytestmark = pytest.mark.e2e
# faker's plugin takes seconds to import on a loaded machine, in every xdist worker too
PLUGIN = ("-p", "integration_kit.metrics.plugin", "-p", "no:faker", "-p", "no:cacheprovider")


@pytest.fixture(autouse=True)
def _isolated(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("INTEGRATION_KIT_METRICS", "INTEGRATION_KIT_METRICS_DB"):
        monkeypatch.delenv(name, raising=False)
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def _history(pytester: pytest.Pytester, relative: str = ".integration-kit/history.sqlite") -> History:
    return History(pytester.path / relative, create=False)


OUTCOMES_SUITE = """
import pytest

@pytest.fixture
def broken_setup():
    raise RuntimeError("setup")

@pytest.fixture
def broken_teardown():
    yield
    raise RuntimeError("teardown")

@pytest.mark.unit
def test_passes(): pass

@pytest.mark.integration
@pytest.mark.slow
def test_fails(): assert 0

def test_setup_error(broken_setup): pass

def test_teardown_error(broken_teardown): pass

@pytest.mark.skip(reason="no")
def test_skipped(): pass

@pytest.mark.xfail
def test_xfails(): assert 0

@pytest.mark.xfail
def test_xpasses(): pass

@pytest.mark.parametrize("n", [1, 2])
def test_param(n): pass
"""


def test_a_run_is_recorded_with_outcomes_phases_and_markers(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_outcomes=OUTCOMES_SUITE)
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=4, failed=1, errors=2, skipped=1, xfailed=1, xpassed=1)
    result.stdout.fnmatch_lines(["integration-kit metrics: run #1 recorded (9 results) in .integration-kit*"])
    with _history(pytester) as history:
        (run,) = history.runs()
        results = {r.nodeid.split("::")[1]: r for r in history.results()}
    assert run.exitstatus == 1 and run.workers == 0 and run.shard is None
    assert run.counts == {
        "passed": 3,
        "failed": 1,
        "error": 2,
        "skipped": 1,
        "xfailed": 1,
        "xpassed": 1,
        "flaky": 0,
    }
    assert {name: r.outcome for name, r in results.items()} == {
        "test_passes": "passed",
        "test_fails": "failed",
        "test_setup_error": "error",
        "test_teardown_error": "error",
        "test_skipped": "skipped",
        "test_xfails": "xfailed",
        "test_xpasses": "xpassed",
        "test_param[1]": "passed",
        "test_param[2]": "passed",
    }
    assert results["test_passes"].markers == ("unit",)
    assert results["test_fails"].markers == ("integration", "slow")
    assert results["test_param[1]"].markers == ()
    assert results["test_passes"].call > 0 and results["test_passes"].setup > 0
    assert results["test_passes"].teardown > 0
    assert results["test_setup_error"].call == 0
    assert results["test_passes"].file_hash is not None
    assert run.started_at < run.finished_at


def test_disabled_or_collect_only_runs_record_nothing(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    pytester.runpytest(*PLUGIN, "--no-ik-metrics").assert_outcomes(passed=1)
    pytester.runpytest(*PLUGIN, "--collect-only")
    assert not (pytester.path / ".integration-kit").exists()
    pytester.runpytest(*PLUGIN, "--ik-metrics", "--ik-metrics-db=out/h.sqlite").assert_outcomes(passed=1)
    with _history(pytester, "out/h.sqlite") as history:
        assert len(history.results()) == 1


def test_the_history_path_comes_from_settings(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    pytester.makepyprojecttoml('[tool.integration_kit]\nmetrics_db = "var/runs.sqlite"\n')
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)
    with _history(pytester, "var/runs.sqlite") as history:
        assert len(history.runs()) == 1
    monkeypatch.setenv("INTEGRATION_KIT_METRICS", "off")
    pytester.makepyprojecttoml("")
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=1)
    assert not (pytester.path / ".integration-kit").exists()


def test_an_invalid_setting_is_a_usage_error(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    monkeypatch.setenv("INTEGRATION_KIT_METRICS", "maybe")
    result = pytester.runpytest(*PLUGIN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*IK-CONFIG-INVALID-VALUE*metrics*"])


def test_a_bad_setting_of_another_layer_does_not_stop_recording(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    pytester.makepyprojecttoml('[tool.integration_kit]\nstart_attempts = "many"\n')
    result = pytester.runpytest(*PLUGIN, "-p", "no:integration_kit", "--ik-metrics-db=h.sqlite")
    result.assert_outcomes(passed=1)
    with _history(pytester, "h.sqlite") as history:
        assert len(history.runs()) == 1


FLAKY_SUITE = """
from pathlib import Path

import pytest

COUNTER = Path(__file__).with_name("counter.txt")

def test_flaky():
    runs = int(COUNTER.read_text()) if COUNTER.exists() else 0
    COUNTER.write_text(str(runs + 1))
    assert runs % 2 == 0, "fails on odd runs"

@pytest.mark.unit
def test_steady(): pass

@pytest.mark.integration
def test_always_fails(): assert 0
"""


def test_a_flaky_test_is_detected_and_reported(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_suite=FLAKY_SUITE)
    outputs = [pytester.runpytest(*PLUGIN).stdout.str() for _ in range(4)]
    assert "known flaky" not in outputs[0]
    assert (
        "known flaky (flip rate 1.00): test_suite.py::test_flaky: passed 1 and failed 1 times" in outputs[1]
    )
    assert "known flaky" not in outputs[2]  # it passed
    assert "test_always_fails" not in "".join(
        line for o in outputs for line in o.splitlines() if "flaky" in line
    )
    with _history(pytester) as history:
        assert len(history.runs()) == 4
        found = flaky_tests(history, window=10)
        html = render_report(history)
        early = flaky_tests(history, window=1)
    (flaky,) = found
    assert flaky.nodeid == "test_suite.py::test_flaky"
    assert flaky.outcomes == ("passed", "failed", "passed", "failed")
    assert flaky.score == 1.0 and "test file" in flaky.reasons[0]
    assert early == []
    for chart in ("outcomes", "durations", "slowest"):
        assert f'<svg class="chart {chart}"' in html
    flaky_section = html.split('<section id="flaky">')[1].split("</section>")[0]
    assert "test_suite.py::test_flaky" in flaky_section
    assert "test_always_fails" not in flaky_section and "test_steady" not in flaky_section


def test_a_pass_on_rerun_is_recorded_as_flaky(pytester: pytest.Pytester) -> None:
    pytest.importorskip("pytest_rerunfailures")
    pytester.makepyfile(test_suite=FLAKY_SUITE.replace("runs % 2 == 0", "runs % 2 == 1"))
    pytester.runpytest(*PLUGIN, "--reruns", "2", "-p", "rerunfailures")
    with _history(pytester) as history:
        (run,) = history.runs()
        results = {r.nodeid: r for r in history.results()}
        (flaky,) = flaky_tests(history)
    assert results["test_suite.py::test_flaky"].outcome == "flaky"
    assert results["test_suite.py::test_flaky"].reruns == 1
    assert results["test_suite.py::test_always_fails"].outcome == "failed"
    assert results["test_suite.py::test_always_fails"].reruns == 2
    assert run.counts["flaky"] == 1 and run.counts["failed"] == 1
    assert flaky.nodeid == "test_suite.py::test_flaky" and flaky.passed_on_rerun == 1


def _passed_nodeids(result: pytest.RunResult) -> list[str]:
    reports = result.reprec.getreports("pytest_runtest_logreport")  # type: ignore[attr-defined]
    return [r.nodeid for r in reports if r.when == "call" and r.passed]


def test_shards_cover_every_test_once_and_balance_known_durations(pytester: pytest.Pytester) -> None:
    durations = [8, 7, 6, 5, 4, 3, 2, 2, 1, 1, 1]
    pytester.makepyfile(test_sharded="\n".join(f"def test_{i}(): pass" for i in range(len(durations) + 1)))
    with History(pytester.path / ".integration-kit" / "history.sqlite") as history:
        history.record(
            RunRecord(started_at=1.0, finished_at=2.0),
            [
                ResultRecord(nodeid=f"test_sharded.py::test_{i}", outcome="passed", call=float(d))
                for i, d in enumerate(durations)
            ],
        )
    every = {f"test_sharded.py::test_{i}" for i in range(len(durations) + 1)}
    seen: list[str] = []
    expected: list[float] = []
    for index in (1, 2, 3):
        # each shard is recorded; the later shards still plan as the first one did
        result = pytester.runpytest(*PLUGIN, f"--ik-shard={index}/3")
        seen += _passed_nodeids(result)
        line = next(
            line for line in result.stdout.lines if line.startswith(f"integration-kit shard {index}/3")
        )
        expected.append(float(re.search(r"expected ([\d.]+)s", line)[1]))  # type: ignore[index]
        assert "of 12 tests" in line
    assert sorted(seen) == sorted(every)  # each test ran exactly once
    # 40 s of known work plus one unknown test weighing the median (3 s): 43 s in 3 shards
    assert sum(expected) == pytest.approx(43.0)
    assert sorted(expected) == [14.0, 14.0, 15.0]


def test_the_shard_options_are_settings(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """``INTEGRATION_KIT_SHARD`` works as ``--ik-shard`` (a CI matrix sets it per job); the
    option beats the environment, which beats pyproject."""
    pytester.makepyfile(test_sharded="\n".join(f"def test_{i}(): pass" for i in range(6)))
    pytester.makepyprojecttoml('[tool.integration_kit]\nshard = "1/2"\nshard_window = 3\n')
    ran = {}
    for shard in ("1/2", "2/2"):
        monkeypatch.setenv("INTEGRATION_KIT_SHARD", shard)
        result = pytester.runpytest(*PLUGIN)
        result.stdout.fnmatch_lines([f"integration-kit shard {shard} (by test*"])
        ran[shard] = set(_passed_nodeids(result))
    assert len(ran["1/2"] | ran["2/2"]) == 6 and not ran["1/2"] & ran["2/2"]
    result = pytester.runpytest(*PLUGIN, "--ik-shard=1/2", "--ik-shard-by=module")  # env says 2/2
    result.stdout.fnmatch_lines(["integration-kit shard 1/2 (by module*"])
    monkeypatch.setenv("INTEGRATION_KIT_SHARD_WINDOW", "0")
    result = pytester.runpytest(*PLUGIN)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*IK-CONFIG-INVALID-VALUE*shard_window*environment*"])


def test_an_invalid_shard_is_a_usage_error(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    result = pytester.runpytest(*PLUGIN, "--ik-shard=3/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*IK-METRICS-INVALID-SHARD*'3/2'*"])


def test_xdist_records_every_result_once_and_workers_agree_on_the_shard(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_par="""
        import pytest

        @pytest.mark.unit
        @pytest.mark.parametrize("n", range(10))
        def test_n(n): pass

        def test_fails(): assert 0
        """
    )
    every = [f"test_par.py::test_n[{n}]" for n in range(10)] + ["test_par.py::test_fails"]
    on_xdist = pytester.runpytest(*PLUGIN, "-n", "2", "--ik-shard=1/2")
    on_xdist.stdout.fnmatch_lines(["integration-kit shard 1/2 (by test, plan *): * of 11 tests, expected *"])
    assert "different plans" not in on_xdist.stdout.str()
    alone = pytester.runpytest(*PLUGIN, "--ik-shard=2/2")
    with _history(pytester) as history:
        first, second = history.runs()
        first_results = history.results(run_id=first.id)
        second_results = history.results(run_id=second.id)
    assert (first.workers, first.shard, second.workers, second.shard) == (2, "1/2", 0, "2/2")
    recorded = [r.nodeid for r in first_results]
    assert len(recorded) == len(set(recorded)) == first.total  # every result once
    ran = _passed_nodeids(on_xdist)
    assert sorted(ran) == sorted(r.nodeid for r in first_results if r.outcome == "passed")
    assert {r.worker for r in first_results} <= {"gw0", "gw1"}
    assert all(r.markers == ("unit",) for r in first_results if "test_n" in r.nodeid)
    assert sorted(recorded + [r.nodeid for r in second_results]) == sorted(every)
    assert len(_passed_nodeids(alone)) + len(ran) == 10


def test_the_cli_plan_is_the_plan_pytest_follows(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    import json

    from click.testing import CliRunner

    from integration_kit.metrics.cli import metrics

    pytester.makepyfile(
        test_plan="""
        import time
        import pytest

        @pytest.mark.parametrize("n", range(6))
        def test_n(n): time.sleep(n / 100)
        """
    )
    pytester.runpytest(*PLUGIN).assert_outcomes(passed=6)
    monkeypatch.chdir(pytester.path)
    cli = CliRunner().invoke(metrics, ["shards", "2", "--collect", "--json", "--", "-p", "no:faker"])
    assert cli.exit_code == 0, cli.output
    plan = json.loads(cli.output)
    assert sum(s["tests"] for s in plan["shards"]) == 6 and all(
        s["known"] == s["tests"] for s in plan["shards"]
    )
    result = pytester.runpytest(*PLUGIN, "--ik-shard=2/2")
    result.stdout.fnmatch_lines([f"integration-kit shard 2/2 (by test, plan {plan['fingerprint']}): *"])
    assert sorted(_passed_nodeids(result)) == sorted(plan["shards"][1]["nodeids"])


def test_an_unusable_history_does_not_fail_the_run_but_stops_sharding(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_one="def test_one(): pass")
    corrupt = pytester.path / ".integration-kit" / "history.sqlite"
    corrupt.parent.mkdir()
    corrupt.write_bytes(b"not a database " * 200)
    result = pytester.runpytest(*PLUGIN)
    result.assert_outcomes(passed=1)
    assert result.ret == pytest.ExitCode.OK
    result.stdout.fnmatch_lines(
        ["integration-kit metrics: run not recorded: [[]IK-METRICS-DB-UNREADABLE[]]*"]
    )
    result = pytester.runpytest(*PLUGIN, "--ik-shard=1/2")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*IK-METRICS-DB-UNREADABLE*"])
