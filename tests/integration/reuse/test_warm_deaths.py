"""A warm (reused) service killed mid-run is named like a service the run started: the test
whose own connection fails, and every later test that needs it, fail with ``IK-SVC-DIED``
naming the service (not the driver's connection errors); tests that do not need it pass.
The next run finds the dead server, says so (``IK-SVC-WARM-DEAD``) and starts a new one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from warm_helpers import prepare_inner_run

from integration_kit.config import Settings
from integration_kit.services.base import PostgresService, RedisService
from integration_kit.services.warm import WarmBackend
from integration_kit.services.warm.project import project_id
from integration_kit.services.warm.store import WarmSet

pytestmark = [pytest.mark.integration, pytest.mark.slow]
pytest_plugins = ["pytester"]

#: Records each failing report's kit error lines (the outer test reads them).
CONFTEST = r"""
import json, os, pathlib


def pytest_runtest_logreport(report):
    if report.failed:
        lines = [line for line in str(report.longrepr).splitlines() if "[IK-" in line]
        row = {"nodeid": report.nodeid, "when": report.when, "text": "\n".join(lines)}
        with pathlib.Path(os.environ["IK_REPORTS"]).open("a") as out:
            out.write(json.dumps(row) + "\n")
"""

SUITE = r"""
import os, signal, socket

from integration_kit import {case}


def _talk(endpoint):
    with socket.create_connection((endpoint.host, endpoint.port), timeout=5) as sock:
        sock.sendall(b"PING\r\n")
        if not sock.recv(1):
            raise ConnectionResetError("the server closed the connection")


def test_1_its_own_connection_fails({fixture}):
    socket.create_connection(({fixture}.host, {fixture}.port), timeout=5).close()  # it listens
    os.kill(int(os.environ["IK_KILL_PID"]), signal.SIGKILL)  # killed mid-run
    _talk({fixture})


class TestAfterTheDeath({case}):
    async def test_2_needs_it(self):
        pass

    async def test_3_needs_it_again(self):
        pass


def test_4_needs_nothing():
    pass
"""

CASES = {"postgres": ("PostgresTestCase", "ik_postgres"), "redis": ("RedisTestCase", "ik_redis")}
SPECS = {"postgres": PostgresService, "redis": RedisService}
DIED = ("test_1_its_own_connection_fails", "test_2_needs_it", "test_3_needs_it_again")


def _reports(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


@pytest.mark.parametrize("service", ["postgres", "redis"])
@pytest.mark.parametrize("warm_settings", ["local"], indirect=True)
def test_a_killed_warm_service_fails_the_tests_that_need_it_with_its_name(
    warm_settings: Settings, pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, service: str
) -> None:
    root = pytester.path
    prepare_inner_run(pytester, monkeypatch, warm_settings)
    (root / "conftest.py").write_text(CONFTEST)
    case, fixture = CASES[service]
    pytester.makepyfile(test_deaths=SUITE.format(case=case, fixture=fixture))
    # The warm set is up before the run (as after `integration-kit services up`): the run reuses it.
    warm = WarmBackend(warm_settings, root=root)
    try:
        running = warm.start(SPECS[service](), timeout=90)
    finally:
        warm.close()
    assert running.started_here
    record = next(iter(WarmSet(warm_settings, project=project_id(root), backend="local").services().values()))
    reports = root / "reports.jsonl"
    monkeypatch.setenv("IK_KILL_PID", str(record["handle"]["pid"]))
    monkeypatch.setenv("IK_REPORTS", str(reports))

    result = pytester.runpytest_subprocess(
        "-p", "no:cacheprovider", "--no-ik-metrics", "--ik-reuse", timeout=300
    )
    output = "\n".join(result.outlines + result.errlines)
    assert f"reused warm {service}" in output, output[-3000:]
    result.assert_outcomes(passed=1, failed=1, errors=2)  # test 1 in its call, 2 and 3 at setup
    found = _reports(reports)
    for name in DIED:
        hits = [r for r in found if r["nodeid"].endswith(name)]
        assert hits, (name, found, output[-3000:])
        assert all("[IK-SVC-DIED]" in r["text"] and f"Service '{service}'" in r["text"] for r in hits), hits
    assert not [r for r in found if "test_4_needs_nothing" in r["nodeid"]], found
    assert "IK-SVC-DIED" in output and "killed by signal 9" in output, output[-3000:]

    # The next run sees the dead warm server, says so and starts another one.
    again = WarmBackend(warm_settings, root=root)
    try:
        replaced = again.start(SPECS[service](), timeout=90)
    finally:
        again.close()
    assert replaced.started_here and any("does not answer" in note for note in again.notes), again.notes
