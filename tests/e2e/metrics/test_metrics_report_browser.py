"""The HTML report in a real browser: headless Chromium (Debian's ``chromium`` package)
renders it with every section and logs no console error."""

from __future__ import annotations

import datetime as dt
import os
import re
import shutil
import signal
import subprocess
from pathlib import Path

import pytest

from integration_kit.metrics.history import CoverageRecord, History, ResultRecord, RunRecord
from integration_kit.metrics.quarantine import QuarantinedTest
from integration_kit.metrics.report import write_report

pytestmark = pytest.mark.e2e
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)
SECTIONS = (
    "outcomes",
    "durations",
    "slowest",
    "flaky",
    "regressions",
    "categories",
    "coverage",
    "failures",
    "infrastructure",
    "quarantine",
)
needs_chromium = pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (Debian package: chromium)"
)


def render(page: Path, profile: Path) -> tuple[str, list[str]]:
    """``(the DOM chromium built, its console messages)``."""
    assert CHROMIUM is not None
    command = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", "--dump-dom", page.as_uri()]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True
    )
    try:
        out, err = process.communicate(timeout=120)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        raise
    finally:
        if process.poll() is None:  # pragma: no cover - interrupted
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == 0, err[-2000:]
    console = [line for line in err.splitlines() if ":CONSOLE" in line]
    return out, console


def _history(path: Path) -> None:
    cases = ["t.py::test_steady", "t.py::test_polluted", "t.py::test_pollutes", "t.py::test_db"]
    with History(path) as history:
        for run in range(8):
            polluted = run % 2 == 0
            order = ["t.py::test_pollutes", "t.py::test_polluted"] if polluted else cases[1:3][::1]
            order = [*order, "t.py::test_steady", "t.py::test_db"]
            results = []
            for position, nodeid in enumerate(order):
                outcome, kind, message = "passed", None, None
                if nodeid == "t.py::test_polluted" and polluted:
                    outcome, kind, message = "failed", "AssertionError", "assert 'cache' not in {...}"
                if nodeid == "t.py::test_db" and run == 5:
                    outcome, kind, message = (
                        "error",
                        "IK-SVC-START-FAILED",
                        "postgres did not start: port N taken",
                    )
                results.append(
                    ResultRecord(
                        nodeid=nodeid,
                        outcome=outcome,
                        call=0.05 * (run + 1),
                        position=position,
                        worker="gw0",
                        markers=("unit",),
                        failure_type=kind,
                        failure_message=message,
                    )
                )
            total = 200 - (30 if run == 7 else 0)
            history.record(
                RunRecord(
                    started_at=1_700_000_000.0 + run * 60,
                    finished_at=1_700_000_030.0 + run * 60,
                    git_commit="c",
                ),
                results,
                coverage=[
                    CoverageRecord(package="", statements=250, covered=total),
                    CoverageRecord(package="pkg", statements=250, covered=total),
                ],
            )


@needs_chromium
def test_the_report_renders_every_section_without_console_errors(tmp_path: Path) -> None:
    db = tmp_path / "history.sqlite"
    _history(db)
    quarantine = {
        "t.py::test_polluted": QuarantinedTest(
            nodeid="t.py::test_polluted",
            reason="order-dependent, #31",
            added=dt.datetime.now(dt.UTC) - dt.timedelta(days=4),
        )
    }
    with History(db, create=False) as history:
        page = write_report(
            history, tmp_path / "report.html", quarantine=quarantine, title="Nightly <health>"
        )
    dom, console = render(page, tmp_path / "profile")
    assert console == []
    assert "<title>Nightly &lt;health&gt;</title>" in dom
    for section in SECTIONS:
        assert re.search(rf'<section id="{section}"><h2>', dom), section
    for chart in ("outcomes", "durations", "slowest", "coverage"):
        assert f'<svg class="chart {chart}"' in dom, chart
    part = {s: dom.split(f'<section id="{s}">')[1].split("</section>")[0] for s in SECTIONS}
    assert (
        "t.py::test_polluted" in part["flaky"]
        and "order" in part["flaky"]
        and "(quarantined)" in part["flaky"]
    )
    assert "AssertionError" in part["failures"] and "IK-SVC-START-FAILED" not in part["failures"]
    assert "IK-SVC-START-FAILED" in part["infrastructure"]
    assert "-12.00" in part["coverage"] and "80.00%" in part["coverage"]  # the drop of the last run
    assert "4 days" in part["quarantine"] and "order-dependent, #31" in part["quarantine"]


@needs_chromium
def test_the_console_check_sees_errors(tmp_path: Path) -> None:
    """The check above can fail: a page with a script error is caught."""
    page = tmp_path / "broken.html"
    page.write_text(
        "<!DOCTYPE html><html><body><script>throw new Error('report broke')</script></body></html>"
    )
    _, console = render(page, tmp_path / "profile")
    assert any("Uncaught Error: report broke" in line for line in console)
