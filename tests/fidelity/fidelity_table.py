"""The fidelity table of docs/mocks.md, generated from the fidelity suite.

    python tests/fidelity/fidelity_table.py --write   # run the suite (mock and real), rewrite the table
    python tests/fidelity/fidelity_table.py --check   # exit 1 when docs/mocks.md and the suite disagree

A row per (suite, category, status): *exact* scenarios assert the same replies on the mock
and the real server; *coded-unsupported: FEATURE* scenarios assert that the mock refuses
FEATURE with ``IK-MOCK-REDIS-UNSUPPORTED`` / ``IK-MOCK-KAFKA-UNSUPPORTED`` while the real
server answers (``@pytest.mark.fidelity(category, unsupported=FEATURE)``). ``--write``
counts only scenarios that passed on both sides and refuses to write after a failure or a
skip; ``--check`` (run by tests/unit/mocks/test_fidelity_table.py) compares the rows of a
collection of the suite with the table, so a scenario added, moved or removed without
regenerating the table fails the unit tests.
"""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "mocks.md"
START = "<!-- fidelity-table:start -->"
END = "<!-- fidelity-table:end -->"
Row = tuple[str, str, str]  # suite, category, status


class _Recorder:
    def __init__(self) -> None:
        self.rows: dict[str, Row] = {}  # scenario (node id without the side) -> row
        self.outcomes: dict[str, set[str]] = {}  # scenario -> outcomes of its sides

    @staticmethod
    def scenario(nodeid: str) -> str:
        return (
            nodeid.replace("[mock-", "[").replace("[real-", "[").replace("[mock]", "").replace("[real]", "")
        )

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            marker = item.get_closest_marker("fidelity")
            if marker is None:
                continue
            suite = "Redis" if "/redis/" in item.nodeid else "Kafka"
            unsupported = marker.kwargs.get("unsupported")
            status = f"coded-unsupported: {unsupported}" if unsupported else "exact"
            self.rows[self.scenario(item.nodeid)] = (suite, marker.args[0], status)

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "call" or report.outcome != "passed":
            self.outcomes.setdefault(self.scenario(report.nodeid), set()).add(report.outcome)


def _run(collect_only: bool) -> _Recorder:
    recorder = _Recorder()
    args = ["-q", "-p", "no:cacheprovider", "-p", "no:randomly", str(ROOT / "tests" / "fidelity")]
    code = pytest.main(["--collect-only", *args] if collect_only else args, plugins=[recorder])
    if code != 0:
        what = "collection" if collect_only else "run"
        raise SystemExit(f"the fidelity suite's {what} failed (pytest exit {code})")
    return recorder


def _count(recorder: _Recorder, passed_only: bool) -> Counter[Row]:
    counts: Counter[Row] = Counter()
    for scenario, row in recorder.rows.items():
        if passed_only and recorder.outcomes.get(scenario) != {"passed"}:
            outcome = recorder.outcomes.get(scenario)
            raise SystemExit(f"not green on both sides, table not written: {scenario} {outcome}")
        counts[row] += 1
    return counts


def render(counts: Counter[Row]) -> str:
    lines = [
        START,
        "| suite | category | status | scenarios |",
        "| --- | --- | --- | --- |",
    ]
    for (suite, category, status), count in sorted(counts.items()):
        lines.append(f"| {suite} | {category} | {status} | {count} |")
    total = sum(counts.values())
    lines.append(f"| all | | | {total} (each run on the mock and on the real server) |")
    lines.append(END)
    return "\n".join(lines)


def documented(doc: Path = DOC) -> str:
    text = doc.read_text()
    start, end = text.index(START), text.index(END) + len(END)
    return text[start:end]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="run the suite and rewrite docs/mocks.md's table")
    mode.add_argument("--check", action="store_true", help="compare a collection of the suite with the table")
    parser.add_argument("--doc", type=Path, default=DOC, help="the page holding the table (docs/mocks.md)")
    args = parser.parse_args(argv)
    table = render(_count(_run(collect_only=args.check), passed_only=args.write))
    if args.write:
        text = args.doc.read_text()
        args.doc.write_text(text.replace(documented(args.doc), table))
        print(table)
        return 0
    if table != documented(args.doc):
        print(
            f"{args.doc.name}'s fidelity table and the suite disagree; run "
            "python tests/fidelity/fidelity_table.py --write\n--- suite ---\n" + table,
            file=sys.stderr,
        )
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
