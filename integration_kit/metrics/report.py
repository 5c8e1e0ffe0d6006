"""A self-contained HTML report of the run history: inline CSS and inline SVG charts,
no scripts and no external assets, so it can be attached to a CI run or mailed as is.

Sections: summary, outcomes per run (stacked bars), duration per run (lines), slowest
tests (bars), flaky tests (with each one's recent outcomes and whether it fails only after
another test), duration regressions, the latest run's totals per category, coverage per
run (line) with the drops, failure groups (test failures and infrastructure failures
apart) and the quarantine with each test's age.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

from integration_kit.metrics.coverage_trend import CoverageTrend, coverage_trend
from integration_kit.metrics.failures import FailureGroup, group_failures
from integration_kit.metrics.flaky import FlakyTest, find_flaky
from integration_kit.metrics.history import History, StoredRun
from integration_kit.metrics.quarantine import QuarantinedTest
from integration_kit.metrics.trends import (
    CategoryTotal,
    Regression,
    SlowTest,
    category_totals,
    duration_regressions,
    slowest_tests,
)

COLORS = {
    "passed": "#2e9e4f",
    "flaky": "#e8a33d",
    "xpassed": "#3aa6a0",
    "failed": "#d64545",
    "error": "#8b1e1e",
    "skipped": "#a3adb8",
    "xfailed": "#cfd5db",
}
STACK_ORDER = ("passed", "flaky", "xpassed", "xfailed", "skipped", "error", "failed")

_CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#1f2933;
margin:0;background:#f5f7fa}
main{max-width:1000px;margin:0 auto;padding:24px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:#616e7c;margin:0 0 16px}
.cards{display:flex;gap:12px;flex-wrap:wrap}
.card{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:10px 14px;min-width:130px}
.card b{display:block;font-size:20px}.card span{color:#616e7c;font-size:12px}
section{background:#fff;border:1px solid #e4e7eb;border-radius:8px;padding:12px 16px;margin-top:16px}
section h2{margin:2px 0 8px}
svg{display:block;max-width:100%;height:auto}svg text{font:11px system-ui,sans-serif;fill:#52606d}
table{border-collapse:collapse;width:100%;font-size:13px}
th,td{text-align:left;padding:4px 8px;border-bottom:1px solid #eef1f4;vertical-align:top}
th{color:#616e7c;font-weight:600}th.num,td.num{text-align:right;font-variant-numeric:tabular-nums}
code{font:12px ui-monospace,SFMono-Regular,Menlo,monospace;word-break:break-all}
.legend{display:flex;gap:12px;flex-wrap:wrap;font-size:12px;color:#52606d;margin:4px 0}
.legend i{display:inline-block;width:10px;height:10px;border-radius:2px;margin-right:4px}
.empty{color:#7b8794;font-style:italic}
"""


def _nice_step(top: float, ticks: int = 4) -> float:
    raw = top / ticks if top > 0 else 1.0
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)


def _fmt_seconds(value: float) -> str:
    if value >= 100:
        return f"{value:.0f}s"
    if value >= 1:
        return f"{value:.1f}s"
    return f"{value * 1000:.0f}ms" if value > 0 else "0"


def _y_axis(top: float, *, left: int, right: int, y0: int, height: int, label: str = "") -> tuple[str, float]:
    step = _nice_step(top)
    ceiling = step * max(1, math.ceil(top / step)) if top > 0 else step
    parts = []
    value: float = 0.0
    while value <= ceiling + 1e-9:
        y = y0 + height - value / ceiling * height
        text = _fmt_seconds(value) if label == "s" else f"{value:g}"
        parts.append(
            f'<line x1="{left}" x2="{right}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef1f4"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{text}</text>'
        )
        value += step
    return "".join(parts), ceiling


def _run_label(run: StoredRun) -> str:
    return f"#{run.id}"


def outcomes_chart(runs: Sequence[StoredRun], *, width: int = 940, height: int = 230) -> str:
    """Stacked bars: each run's outcome counts."""
    if not runs:
        return '<p class="empty">No runs recorded yet.</p>'
    left, top_pad, bottom = 44, 10, 28
    plot_h = height - top_pad - bottom
    plot_w = width - left - 10
    most = max(run.total for run in runs) or 1
    axis, ceiling = _y_axis(most, left=left, right=width - 10, y0=top_pad, height=plot_h)
    slot = plot_w / len(runs)
    bar = max(2.0, min(28.0, slot * 0.7))
    parts = [
        f'<svg class="chart outcomes" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Outcomes per run">',
        axis,
    ]
    label_every = max(1, math.ceil(len(runs) / 20))
    for i, run in enumerate(runs):
        x = left + i * slot + (slot - bar) / 2
        y: float = top_pad + plot_h
        for outcome in STACK_ORDER:
            count = run.counts.get(outcome, 0)
            if not count:
                continue
            h = count / ceiling * plot_h
            y -= h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar:.1f}" height="{h:.1f}" '
                f'fill="{COLORS[outcome]}"><title>run {_run_label(run)}: {count} {outcome}</title></rect>'
            )
        if i % label_every == 0:
            parts.append(
                f'<text x="{x + bar / 2:.1f}" y="{height - 10}" text-anchor="middle">{_run_label(run)}</text>'
            )
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{COLORS[o]}"></i>{o}</span>' for o in STACK_ORDER)
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def duration_chart(
    runs: Sequence[StoredRun], test_time: Sequence[float], *, width: int = 940, height: int = 230
) -> str:
    """Lines: each run's wall-clock time and the summed duration of its tests."""
    if not runs:
        return '<p class="empty">No runs recorded yet.</p>'
    left, top_pad, bottom = 52, 10, 28
    plot_h = height - top_pad - bottom
    plot_w = width - left - 20
    series = [
        ("wall time", "#3b6fd8", [run.wall_time for run in runs]),
        ("sum of test durations", "#9b59b6", list(test_time)),
    ]
    most = max(max(values) for _, _, values in series)
    axis, ceiling = _y_axis(most, left=left, right=width - 10, y0=top_pad, height=plot_h, label="s")
    step = plot_w / max(1, len(runs) - 1)
    parts = [
        f'<svg class="chart durations" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="Duration per run">',
        axis,
    ]
    for name, color, values in series:
        points = [
            (
                left + i * step if len(runs) > 1 else left + plot_w / 2,
                top_pad + plot_h - (v / ceiling * plot_h if ceiling else 0),
            )
            for i, v in enumerate(values)
        ]
        path = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{path}"/>')
        for (x, y), run, value in zip(points, runs, values, strict=True):
            parts.append(
                f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{color}">'
                f"<title>run {_run_label(run)} {escape(name)}: {_fmt_seconds(value)}</title></circle>"
            )
    label_every = max(1, math.ceil(len(runs) / 20))
    for i, run in enumerate(runs):
        if i % label_every == 0:
            x = left + i * step if len(runs) > 1 else left + plot_w / 2
            parts.append(f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">{_run_label(run)}</text>')
    parts.append("</svg>")
    legend = "".join(f'<span><i style="background:{c}"></i>{escape(n)}</span>' for n, c, _ in series)
    return f'<div class="legend">{legend}</div>' + "".join(parts)


def _short_nodeid(nodeid: str, limit: int = 70) -> str:
    return nodeid if len(nodeid) <= limit else "…" + nodeid[-(limit - 1) :]


def slowest_chart(slowest: Sequence[SlowTest], *, width: int = 940) -> str:
    """Horizontal bars: median duration of the slowest tests."""
    if not slowest:
        return '<p class="empty">No timed tests yet.</p>'
    row, label_w, pad = 22, 430, 70
    height = row * len(slowest) + 8
    most = max(s.median for s in slowest) or 1.0
    bar_w = width - label_w - pad
    parts = [
        f'<svg class="chart slowest" viewBox="0 0 {width} {height}" role="img" aria-label="Slowest tests">'
    ]
    for i, test in enumerate(slowest):
        y = 4 + i * row
        w = max(1.0, test.median / most * bar_w)
        parts.append(
            f'<text x="{label_w - 8}" y="{y + 14}" text-anchor="end">{escape(_short_nodeid(test.nodeid, 64))}'
            f"</text>"
            f'<rect x="{label_w}" y="{y + 3}" width="{w:.1f}" height="{row - 8}" rx="2" fill="#3b6fd8">'
            f"<title>{escape(test.nodeid)}: median {_fmt_seconds(test.median)} over {test.runs} runs</title>"
            f"</rect>"
            f'<text x="{label_w + w + 6:.1f}" y="{y + 14}">{_fmt_seconds(test.median)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _outcome_strip(outcomes: Sequence[str]) -> str:
    size, gap = 10, 2
    width = max(1, len(outcomes)) * (size + gap)
    cells = "".join(
        f'<rect x="{i * (size + gap)}" y="0" width="{size}" height="{size}" rx="2" '
        f'fill="{COLORS.get(o, "#000")}"><title>{escape(o)}</title></rect>'
        for i, o in enumerate(outcomes)
    )
    return f'<svg class="strip" width="{width}" height="{size}" viewBox="0 0 {width} {size}">{cells}</svg>'


def flaky_table(flaky: Sequence[FlakyTest], quarantined: Mapping[str, QuarantinedTest] | None = None) -> str:
    if not flaky:
        return '<p class="empty">No flaky tests in the window.</p>'
    held = quarantined or {}
    rows = "".join(
        f"<tr><td><code>{escape(f.nodeid)}</code><br><small>{escape('; '.join(f.reasons))}</small></td>"
        f'<td class="num">{f.score:.2f}</td><td class="num">{f.passed}/{f.failed}</td>'
        f"<td>{escape(f.pattern)}{' (quarantined)' if f.nodeid in held else ''}</td>"
        f"<td>{_outcome_strip(f.outcomes[-30:])}</td></tr>"
        for f in flaky
    )
    return (
        '<table class="flaky"><tr><th>test</th><th class="num">flip rate</th>'
        '<th class="num">passed/failed</th><th>pattern</th>'
        f"<th>recent outcomes (oldest first)</th></tr>{rows}</table>"
    )


def coverage_chart(trend: CoverageTrend, *, width: int = 940, height: int = 200) -> str:
    """A line: the total coverage of each run that recorded it; the drops below."""
    points = trend.points
    if not points:
        return '<p class="empty">No coverage recorded (run pytest with pytest-cov: --cov=...).</p>'
    left, top_pad, bottom = 44, 10, 28
    plot_h, plot_w = height - top_pad - bottom, width - left - 20
    low = max(0.0, math.floor(min(p.percent for p in points) / 10) * 10 - (10 if len(points) > 1 else 0))
    span = max(100.0 - low, 1.0)
    step = plot_w / max(1, len(points) - 1)
    coords = [
        (
            left + i * step if len(points) > 1 else left + plot_w / 2,
            top_pad + plot_h - (p.percent - low) / span * plot_h,
        )
        for i, p in enumerate(points)
    ]
    parts = [
        f'<svg class="chart coverage" viewBox="0 0 {width} {height}" role="img" '
        'aria-label="Coverage per run">'
    ]
    for value in (low, low + span / 2, 100.0):
        y = top_pad + plot_h - (value - low) / span * plot_h
        parts.append(
            f'<line x1="{left}" x2="{width - 10}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eef1f4"/>'
            f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}%</text>'
        )
    parts.append(
        '<polyline fill="none" stroke="#2e9e4f" stroke-width="2" points="'
        + " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
        + '"/>'
    )
    for (x, y), point in zip(coords, points, strict=True):
        parts.append(
            f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="#2e9e4f"><title>run #{point.run_id}: '
            f"{point.percent:.2f}%</title></circle>"
            f'<text x="{x:.1f}" y="{height - 10}" text-anchor="middle">#{point.run_id}</text>'
        )
    parts.append("</svg>")
    drops = "".join(
        f'<tr><td>{escape(d.package or "(total)")}</td><td class="num">{d.previous:.2f}%</td>'
        f'<td class="num">{d.current:.2f}%</td><td class="num">{d.delta:+.2f}</td></tr>'
        for d in trend.drops
    )
    table = (
        '<table class="drops"><tr><th>package</th>'
        f'<th class="num">before (#{trend.drops[0].previous_run})</th>'
        f'<th class="num">now (#{trend.drops[0].run_id})</th><th class="num">change</th></tr>{drops}</table>'
        if trend.drops
        else f'<p class="empty">No drop of more than {trend.threshold:g} points in the latest run.</p>'
    )
    return "".join(parts) + table


def failures_table(groups: Sequence[FailureGroup], *, infrastructure: bool, limit: int = 20) -> str:
    chosen = [g for g in groups if g.infrastructure is infrastructure][:limit]
    if not chosen:
        kind = "infrastructure failures" if infrastructure else "test failures"
        return f'<p class="empty">No {kind} in the window.</p>'
    rows = "".join(
        f"<tr><td><code>{escape(g.failure_type)}</code></td><td>{escape(g.message)}</td>"
        f'<td class="num">{g.count}</td><td class="num">{g.runs}</td>'
        f'<td class="num">#{g.first_run}</td><td class="num">#{g.last_run}</td>'
        f"<td>{'<br>'.join(f'<code>{escape(t)}</code>' for t in g.tests[:5])}"
        f"{f'<br><small>and {len(g.tests) - 5} more</small>' if len(g.tests) > 5 else ''}</td></tr>"
        for g in chosen
    )
    return (
        '<table class="failures"><tr><th>type / code</th><th>message</th><th class="num">count</th>'
        '<th class="num">runs</th><th class="num">first</th><th class="num">last</th><th>tests</th></tr>'
        f"{rows}</table>"
    )


def quarantine_table(quarantined: Mapping[str, QuarantinedTest]) -> str:
    if not quarantined:
        return '<p class="empty">No quarantined tests.</p>'
    rows = "".join(
        f"<tr><td><code>{escape(q.nodeid)}</code></td><td>{escape(q.age_text())}</td>"
        f"<td>{escape(q.reason)}</td><td>{escape(q.added.strftime('%Y-%m-%d'))}</td></tr>"
        for q in sorted(quarantined.values(), key=lambda q: q.added)
    )
    return (
        '<table class="quarantine"><tr><th>test</th><th>age</th><th>reason</th><th>since</th></tr>'
        f"{rows}</table>"
    )


def regressions_table(regressions: Sequence[Regression]) -> str:
    if not regressions:
        return '<p class="empty">No duration regressions.</p>'
    rows = "".join(
        f'<tr><td><code>{escape(r.nodeid)}</code></td><td class="num">{_fmt_seconds(r.previous)}</td>'
        f'<td class="num">{_fmt_seconds(r.recent)}</td><td class="num">&times;{r.ratio:.2f}</td></tr>'
        for r in regressions
    )
    return (
        '<table><tr><th>test</th><th class="num">before</th><th class="num">now</th>'
        f'<th class="num">ratio</th></tr>{rows}</table>'
    )


def categories_table(totals: Sequence[CategoryTotal]) -> str:
    if not totals:
        return '<p class="empty">No results in the latest run.</p>'
    rows = "".join(
        f'<tr><td>{escape(t.category)}</td><td class="num">{t.tests}</td><td class="num">{t.failed}</td>'
        f'<td class="num">{_fmt_seconds(t.duration)}</td></tr>'
        for t in totals
    )
    return (
        '<table><tr><th>category</th><th class="num">tests</th><th class="num">failed</th>'
        f'<th class="num">time</th></tr>{rows}</table>'
    )


def startup_table(rows: Sequence[Any]) -> str:
    """Start-up rows (``integration-kit::startup::<key>``): what started, on which backend, how long."""
    if not rows:
        return '<p class="empty">No service was started in the latest run.</p>'
    body = "".join(
        f"<tr><td>{escape(r.nodeid.removeprefix('integration-kit::startup::'))}</td>"
        f"<td>{escape(next((m[8:] for m in r.markers if m.startswith('backend:')), ''))}</td>"
        f'<td class="num">{_fmt_seconds(r.duration)}</td></tr>'
        for r in sorted(rows, key=lambda r: -r.duration)
    )
    return f'<table><tr><th>started</th><th>backend</th><th class="num">time</th></tr>{body}</table>'


def _card(value: str, label: str) -> str:
    return f'<div class="card"><b>{escape(value)}</b><span>{escape(label)}</span></div>'


def render_report(
    history: History,
    *,
    window: int = 50,
    flaky_window: int = 20,
    trend_window: int = 5,
    slowest: int = 15,
    title: str = "Test suite health",
    quarantine: Mapping[str, QuarantinedTest] | None = None,
    coverage_threshold: float = 1.0,
) -> str:
    """The report as one HTML string, from the last ``window`` runs of ``history``
    (and the quarantine list, when given)."""
    runs = history.runs(last=window)
    results = history.results(last_runs=window)
    run_ids = [run.id for run in runs]
    test_time = dict.fromkeys(run_ids, 0.0)
    for result in results:
        test_time[result.run_id] += result.duration
    flaky_ids = set(run_ids[-flaky_window:])
    flaky = find_flaky(r for r in results if r.run_id in flaky_ids)
    trend_ids = set(run_ids[-trend_window:])
    slow = slowest_tests(
        [r for r in results if r.run_id in trend_ids and r.category != "startup"], limit=slowest
    )
    regressions = duration_regressions(results, window=trend_window)
    latest = runs[-1] if runs else None
    totals = category_totals(r for r in results if latest is not None and r.run_id == latest.id)
    latest_results = [r for r in results if latest is not None and r.run_id == latest.id]
    startups = [r for r in latest_results if r.category == "startup"]
    run_test_time = [test_time[i] for i in run_ids]
    coverage = coverage_trend(history, window=window, threshold=coverage_threshold)
    groups = group_failures(results)
    held = quarantine or {}
    generated = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    if latest is not None:
        when = dt.datetime.fromtimestamp(latest.started_at, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        failing = latest.counts["failed"] + latest.counts["error"]
        cards = "".join(
            (
                _card(str(len(runs)), "runs shown"),
                _card(
                    f"{latest.counts['passed'] + latest.counts['flaky']}/{latest.total}",
                    f"passed in #{latest.id}",
                ),
                _card(str(failing), f"failed in #{latest.id}"),
                _card(str(len(flaky)), f"flaky (last {min(flaky_window, len(runs))} runs)"),
                _card(_fmt_seconds(statistics.median(r.wall_time for r in runs)), "median run time"),
            )
        )
        subtitle = f"{len(runs)} runs, latest #{latest.id} started {when}; generated {generated}"
    else:
        cards, subtitle = "", f"no runs recorded; generated {generated}"
    body = f"""<main>
<h1>{escape(title)}</h1><p class="sub">{escape(subtitle)}</p>
<div class="cards">{cards}</div>
<section id="outcomes"><h2>Outcomes per run</h2>{outcomes_chart(runs)}</section>
<section id="durations"><h2>Duration per run</h2>{duration_chart(runs, run_test_time)}</section>
<section id="slowest"><h2>Slowest tests (median of the last {trend_window} runs)</h2>
{slowest_chart(slow)}</section>
<section id="flaky"><h2>Flaky tests</h2>{flaky_table(flaky, held)}</section>
<section id="regressions"><h2>Duration regressions (last {trend_window} runs against the {trend_window}
before)</h2>{regressions_table(regressions)}</section>
<section id="categories"><h2>Latest run by category</h2>{categories_table(totals)}</section>
<section id="coverage"><h2>Coverage per run</h2>{coverage_chart(coverage)}</section>
<section id="failures"><h2>Failure groups</h2>{failures_table(groups, infrastructure=False)}</section>
<section id="infrastructure"><h2>Infrastructure failures (services, readiness)</h2>
{failures_table(groups, infrastructure=True)}</section>
<section id="quarantine"><h2>Quarantine</h2>{quarantine_table(held)}</section>
<section id="startup"><h2>Service and process start-ups in the latest run</h2>
{startup_table(startups)}</section>
</main>"""
    return (
        '<!DOCTYPE html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head><body>{body}</body></html>\n"
    )


def write_report(history: History, output: Path, **options: Any) -> Path:
    """Render the report (options as :func:`render_report`) into ``output``; return the path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_report(history, **options), encoding="utf-8")
    return output
