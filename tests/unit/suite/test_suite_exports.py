"""integration_kit.suite: a sorted, importable, lazy __all__; the plugin imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import integration_kit.suite

pytestmark = pytest.mark.unit


def test_exports_are_sorted_lazy_and_importable() -> None:
    names = integration_kit.suite.__all__
    assert names == sorted(names) and set(integration_kit.suite._LAZY) == set(names)
    for name in names:
        assert getattr(integration_kit.suite, name) is not None, name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        integration_kit.suite.nope  # noqa: B018


def test_importing_the_plugin_loads_neither_the_linter_nor_sqlite() -> None:
    code = (
        "import sys, integration_kit.suite.plugin; "
        "print(sorted(m for m in sys.modules if m.startswith('integration_kit.suite') or m == 'sqlite3'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert (
        out.strip()
        == "['integration_kit.suite', 'integration_kit.suite.order', 'integration_kit.suite.plugin']"
    )
