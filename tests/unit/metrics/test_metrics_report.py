"""report.py: one self-contained HTML file with the charts, flaky tests and regressions."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from integration_kit.metrics.history import History
from integration_kit.metrics.report import render_report, write_report

pytestmark = pytest.mark.unit


def test_report_has_charts_flaky_tests_and_regressions(history_file: Path) -> None:
    with History(history_file, create=False) as history:
        html = render_report(history, title="Nightly")
    assert html.startswith("<!DOCTYPE html>") and "<title>Nightly</title>" in html
    for chart in ("outcomes", "durations", "slowest"):
        assert f'<svg class="chart {chart}"' in html
    outcomes = html.split('<svg class="chart outcomes"')[1].split("</svg>")[0]
    assert outcomes.count(" passed</title>") == 12  # one stacked bar per run
    assert outcomes.count(": 1 failed</title>") == 4  # test_flips failed in runs 2, 5, 8, 11
    assert "<polyline" in html
    flaky_section = html.split('<section id="flaky">')[1].split("</section>")[0]
    assert "tests/test_api.py::test_flips" in flaky_section
    assert "test_steady" not in flaky_section
    regressions = html.split('<section id="regressions">')[1].split("</section>")[0]
    assert "tests/test_e2e.py::test_slower" in regressions and "&times;2.50" in regressions
    categories = html.split('<section id="categories">')[1].split("</section>")[0]
    for name in ("unit", "integration", "e2e"):
        assert f"<td>{name}</td>" in categories


def test_report_is_self_contained_and_escaped(history_file: Path) -> None:
    with History(history_file, create=False) as history:
        html = render_report(history)
    assert not re.search(r"<script|<link|\bsrc=|\bhref=|url\(|@import", html)
    assert "test_html[<b>&]" not in html
    assert "test_html[&lt;b&gt;&amp;]" in html
    assert "<style>" in html


def test_empty_history_renders(tmp_path: Path) -> None:
    with History(tmp_path / "h.sqlite") as history:
        html = write_report(history, tmp_path / "out" / "r.html").read_text()
    assert "No runs recorded yet." in html and "No flaky tests" in html
