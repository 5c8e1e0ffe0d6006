"""heap.py in real pytest runs: collection with automatic collection paused, the heap frozen
after it, the tests' own garbage still collected; off by option or setting; a collection
that fails leaves the collector on."""

from __future__ import annotations

import gc
import json

import pytest

pytestmark = pytest.mark.unit
pytest_plugins = ["pytester"]

INNER = """
import gc, json, os, weakref
from pathlib import Path

COLLECTING_WITH_GC = gc.isenabled()  # module level: runs while the test is collected


class Node:
    pass


def test_heap():
    node = Node()
    node.me = node  # a cycle: only the collector frees it
    ref = weakref.ref(node)
    del node
    gc.collect()
    Path(os.environ["IK_HEAP_OUT"]).write_text(json.dumps({
        "frozen": gc.get_freeze_count(),
        "collecting_with_gc": COLLECTING_WITH_GC,
        "enabled": gc.isenabled(),
        "cycle_collected": ref() is None,
    }))
"""


def _run(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, *args: str, env: str | None = None
) -> dict:  # type: ignore[type-arg]
    out = pytester.path / "heap.json"
    monkeypatch.setenv("IK_HEAP_OUT", str(out))
    if env is None:
        monkeypatch.delenv("INTEGRATION_KIT_GC_FREEZE", raising=False)
    else:
        monkeypatch.setenv("INTEGRATION_KIT_GC_FREEZE", env)
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics", *args)
    result.assert_outcomes(passed=1)
    return json.loads(out.read_text())


def test_by_default_the_heap_is_frozen_after_collection_and_tests_collect_their_garbage(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = _run(pytester, monkeypatch)
    assert seen["frozen"] > 1000, "pytest and the kit alone are thousands of objects"
    assert seen["collecting_with_gc"] is False
    assert seen["enabled"] is True
    assert seen["cycle_collected"] is True


@pytest.mark.parametrize(
    ("args", "env", "frozen"),
    [
        (("--no-ik-gc-freeze",), None, False),
        ((), "false", False),
        (("--ik-gc-freeze",), "false", True),  # the option wins over the setting
        (("--no-ik-gc-freeze",), "true", False),
    ],
)
def test_the_option_and_the_setting_turn_it_off_and_on(
    pytester: pytest.Pytester,
    monkeypatch: pytest.MonkeyPatch,
    args: tuple[str, ...],
    env: str | None,
    frozen: bool,
) -> None:
    seen = _run(pytester, monkeypatch, *args, env=env)
    assert (seen["frozen"] > 0) is frozen
    assert seen["collecting_with_gc"] is not frozen
    assert seen["enabled"] is True and seen["cycle_collected"] is True


def test_a_bad_setting_is_a_usage_error_with_its_code(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTEGRATION_KIT_GC_FREEZE", "sometimes")
    pytester.makepyfile(test_inner="def test_x():\n    pass\n")
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--no-ik-metrics")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    text = "\n".join(result.errlines + result.outlines)
    assert "IK-CONFIG" in text and "gc_freeze" in text and "true or false" in text


def test_a_collection_that_fails_leaves_the_collector_on(pytester: pytest.Pytester) -> None:
    """In this process: an import error while collecting must not leave GC disabled."""
    pytester.makepyfile(test_broken="raise ImportError('broken on purpose')\n")
    assert gc.isenabled()
    result = pytester.runpytest_inprocess("-p", "no:cacheprovider", "--no-ik-metrics")
    assert result.ret == pytest.ExitCode.INTERRUPTED
    assert gc.isenabled()
