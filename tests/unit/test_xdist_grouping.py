"""pytest-xdist keeps every ServiceTestCase class on one worker (class-scoped state is set up once)."""

from __future__ import annotations

import json

import pytest

pytest_plugins = ["pytester"]

INNER = """
import json, os
from pathlib import Path

from integration_kit.testcase import ServiceTestCase

OUT = Path({out!r})


def record(name):
    (OUT / f"{{name}}.json").write_text(json.dumps([name, os.environ["PYTEST_XDIST_WORKER"]]))


class TestFirst(ServiceTestCase):
{first}

class TestSecond(ServiceTestCase):
{second}
"""


def _tests(prefix: str, n: int, indent: str = "    ") -> str:
    body = "{indent}def test_{prefix}{i}(self):\n{indent}    record('{prefix}{i}')\n"
    return "\n".join(body.format(indent=indent, prefix=prefix, i=i) for i in range(n))


def _suite(pytester: pytest.Pytester) -> object:
    pytester.makeini("[pytest]\nasyncio_mode = auto\nasyncio_default_fixture_loop_scope = function\n")
    out = pytester.mkdir("out")
    pytester.makepyfile(test_inner=INNER.format(out=str(out), first=_tests("a", 8), second=_tests("b", 8)))
    pytester.makepyfile(test_plain="\n".join(f"def test_plain{i}():\n    pass\n" for i in range(8)))
    return out


def _workers(out) -> dict[str, set[str]]:
    seen: dict[str, set[str]] = {}
    for path in out.glob("*.json"):
        name, worker = json.loads(path.read_text())
        seen.setdefault(name.rstrip("0123456789"), set()).add(worker)
    return seen


@pytest.mark.slow
def test_each_class_stays_on_one_worker_by_default(pytester: pytest.Pytester) -> None:
    out = _suite(pytester)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "-v")
    result.assert_outcomes(passed=24)
    seen = _workers(out)
    assert len(seen["a"]) == 1 and len(seen["b"]) == 1, seen
    assert "LoadScopeScheduling" in result.stdout.str()


@pytest.mark.slow
def test_an_explicit_dist_is_respected(pytester: pytest.Pytester) -> None:
    _suite(pytester)
    result = pytester.runpytest_subprocess("-n", "2", "-p", "xdist", "--dist", "load", "-v")
    result.assert_outcomes(passed=24)
    assert "via LoadScheduling" in result.stdout.str()
