"""Flaky tests, found in the run history.

A test is flaky when, within the window of recent runs, it

* both passed and failed on the same code: the same git commit and the same uncommitted
  diff, or (outside git) the same content of its test file; or
* failed and then passed when rerun within one run (pytest-rerunfailures: outcome ``flaky``).

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

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["reasons"] = list(self.reasons)
        data["outcomes"] = list(self.outcomes)
        return data


def _short(code_key: str) -> str:
    kind, _, value = code_key.partition(":")
    if kind == "git":
        commit, _, dirty = value.partition("+")
        return f"commit {commit[:10]}" + ("" if dirty == "clean" else f" with diff {dirty}")
    return f"test file {value[:10]}"


def analyse(nodeid: str, results: list[StoredResult]) -> FlakyTest | None:
    """The flakiness of one test from its results (ordered by run); ``None`` if not flaky."""
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
    )


def find_flaky(results: Iterable[StoredResult]) -> list[FlakyTest]:
    """Flaky tests among ``results``, the flakiest first (then by node id)."""
    by_test: dict[str, list[StoredResult]] = {}
    for result in sorted(results, key=lambda r: r.run_id):
        by_test.setdefault(result.nodeid, []).append(result)
    found = [flaky for nodeid, rs in by_test.items() if (flaky := analyse(nodeid, rs)) is not None]
    return sorted(found, key=lambda f: (-f.score, -f.flips, f.nodeid))


def flaky_tests(history: History, *, window: int = DEFAULT_WINDOW) -> list[FlakyTest]:
    """Flaky tests within the last ``window`` runs of ``history``."""
    return find_flaky(history.results(last_runs=window))
