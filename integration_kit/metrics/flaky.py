"""Flaky tests, found in the run history.

A test is flaky when, within the window of recent runs, it

* both passed and failed on the same code: the same git commit and the same uncommitted
  diff, or (outside git) the same content of its test file; or
* failed and then passed when rerun within one run (pytest-rerunfailures: outcome ``flaky``).

Where the history knows the order the tests ran in (each result's position on its
worker), a flaky test is told apart as **order-dependent** ("fails only after X": some test
ran before it in every failure and in none of its passes; shuffled runs, ``--ik-shuffle``,
make this evidence) or **random** (no such test).

Its score is the *flip rate*: the share of consecutive results on the same code whose
outcome differs from the one before (a pass on rerun counts as one flip). 0 never
flips, 1 flips every time. Skips and xfails are ignored.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

from integration_kit.metrics.history import FAILING, PASSING, History, StoredResult

DEFAULT_WINDOW = 20


@dataclass(frozen=True, kw_only=True)
class FlakyTest:
    """A flaky test and the evidence for it."""

    nodeid: str
    score: float
    flips: int
    results: int
    passed: int
    failed: int
    passed_on_rerun: int
    last_outcome: str
    last_run: int
    reasons: tuple[str, ...]
    outcomes: tuple[str, ...]
    #: ``order`` (fails only after the tests in ``after``), ``random``, or ``unknown`` (no
    #: recorded order).
    pattern: str = "unknown"
    after: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        data["outcomes"] = list(self.outcomes)
        data["after"] = list(self.after)
        return data


Predecessors = dict[tuple[int, str | None], list[tuple[int, str]]]


def predecessors_index(results: Iterable[StoredResult]) -> Predecessors:
    """``(run id, worker) -> [(position, node id)]`` for the results with a position."""
    index: Predecessors = {}
    for r in results:
        if r.position is not None:
            index.setdefault((r.run_id, r.worker), []).append((r.position, r.nodeid))
    for entries in index.values():
        entries.sort()
    return index


def _before(index: Predecessors, result: StoredResult) -> dict[str, int] | None:
    """The tests that ran before ``result`` on its worker, with their distance to it."""
    if result.position is None:
        return None
    entries = index.get((result.run_id, result.worker))
    if not entries:
        return None
    return {nodeid: result.position - pos for pos, nodeid in entries if pos < result.position}


def order_pattern(results: list[StoredResult], index: Predecessors) -> tuple[str, tuple[str, ...], str]:
    """``(pattern, tests it fails only after (closest first), reason)`` of one test."""
    fails = [_before(index, r) for r in results if r.outcome in FAILING or r.outcome == "flaky"]
    passes = [_before(index, r) for r in results if r.outcome in PASSING and r.outcome != "flaky"]
    if not fails or not passes or any(f is None for f in fails) or any(p is None for p in passes):
        return "unknown", (), ""
    fail_sets = [f for f in fails if f is not None]
    common = set(fail_sets[0]).intersection(*fail_sets[1:])
    for seen in passes:
        common -= set(seen or ())
    if not common:
        return (
            "random",
            (),
            (
                f"fails at random: no test ran before each of its {len(fails)} failures and none of its "
                f"{len(passes)} passes"
            ),
        )
    closest = sorted(common, key=lambda n: (sum(f[n] for f in fail_sets) / len(fail_sets), n))
    if len(closest) == 1:
        reason = f"fails only after {closest[0]}"
    else:
        shown = ", ".join(closest[:3]) + (", ..." if len(closest) > 3 else "")
        reason = f"fails only after one of {len(closest)} tests ({shown})"
    return (
        "order",
        tuple(closest),
        (
            f"{reason}: it ran before each of the {len(fails)} failures "
            f"and before none of the {len(passes)} passes"
        ),
    )


def _short(code_key: str) -> str:
    kind, _, value = code_key.partition(":")
    if kind == "git":
        commit, _, dirty = value.partition("+")
        return f"commit {commit[:10]}" + ("" if dirty == "clean" else f" with diff {dirty}")
    return f"test file {value[:10]}"


def analyse(nodeid: str, results: list[StoredResult], index: Predecessors | None = None) -> FlakyTest | None:
    """The flakiness of one test from its results (ordered by run); ``None`` if not flaky.
    ``index`` (every result of those runs, see :func:`predecessors_index`) tells an
    order-dependent failure from a random one."""
    relevant = [r for r in results if r.outcome in PASSING or r.outcome in FAILING]
    if not relevant:
        return None
    flips = pairs = 0
    reasons: list[str] = []
    per_code: dict[str, Counter[str]] = {}
    previous: StoredResult | None = None
    for result in relevant:
        passing = result.outcome in PASSING
        key = result.code_key
        if key is not None:
            per_code.setdefault(key, Counter())["pass" if passing else "fail"] += 1
        if result.outcome == "flaky":
            flips += 1
            pairs += 1
        if previous is not None and key is not None and previous.code_key == key:
            pairs += 1
            if (previous.outcome in PASSING) != passing:
                flips += 1
        previous = result
    for key, counts in per_code.items():
        if counts["pass"] and counts["fail"]:
            reasons.append(f"passed {counts['pass']} and failed {counts['fail']} times on {_short(key)}")
    rerun_runs = [r.run_id for r in relevant if r.outcome == "flaky"]
    if rerun_runs:
        reasons.append("passed on rerun in run " + ", ".join(f"#{run}" for run in rerun_runs))
    if not reasons:
        return None
    pattern, after, why = order_pattern(relevant, index) if index is not None else ("unknown", (), "")
    if why:
        reasons.append(why)
    last = relevant[-1]
    return FlakyTest(
        nodeid=nodeid,
        score=round(flips / pairs, 4) if pairs else 0.0,
        flips=flips,
        results=len(relevant),
        passed=sum(r.outcome in PASSING for r in relevant),
        failed=sum(r.outcome in FAILING for r in relevant),
        passed_on_rerun=len(rerun_runs),
        last_outcome=last.outcome,
        last_run=last.run_id,
        reasons=tuple(reasons),
        outcomes=tuple(r.outcome for r in relevant),
        pattern=pattern,
        after=after,
    )


def find_flaky(results: Iterable[StoredResult], *, only: Iterable[str] | None = None) -> list[FlakyTest]:
    """Flaky tests among ``results`` (every result of some runs), the flakiest first (then
    by node id); only the tests ``only`` when given."""
    ordered = sorted(results, key=lambda r: r.run_id)
    index = predecessors_index(ordered)
    wanted = None if only is None else set(only)
    by_test: dict[str, list[StoredResult]] = {}
    for result in ordered:
        if wanted is None or result.nodeid in wanted:
            by_test.setdefault(result.nodeid, []).append(result)
    found = [flaky for nodeid, rs in by_test.items() if (flaky := analyse(nodeid, rs, index)) is not None]
    return sorted(found, key=lambda f: (-f.score, -f.flips, f.nodeid))


def flaky_tests(history: History, *, window: int = DEFAULT_WINDOW) -> list[FlakyTest]:
    """Flaky tests within the last ``window`` runs of ``history``."""
    return find_flaky(history.results(last_runs=window))
