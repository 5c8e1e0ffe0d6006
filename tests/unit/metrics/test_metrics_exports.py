"""integration_kit.metrics: a sorted, importable __all__; the plugin imports nothing heavy."""

from __future__ import annotations

import subprocess
import sys

import pytest

import integration_kit.metrics

pytestmark = pytest.mark.unit


def test_exports_are_sorted_and_importable() -> None:
    names = integration_kit.metrics.__all__
    assert names == sorted(names)
    for name in names:
        assert getattr(integration_kit.metrics, name) is not None, name


def test_importing_the_plugin_loads_no_metrics_module_or_sqlite() -> None:
    code = (
        "import sys, integration_kit.metrics.plugin as p; "
        "print(sorted(m for m in sys.modules if m.startswith('integration_kit.metrics') or m == 'sqlite3'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    # metrics.settings holds the suite-health settings' parsers, which config.py reads
    assert out.strip() == (
        "['integration_kit.metrics', 'integration_kit.metrics.plugin', 'integration_kit.metrics.settings']"
    )


def test_every_export_is_lazy_and_listed() -> None:
    assert set(integration_kit.metrics._LAZY) == set(integration_kit.metrics.__all__)
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        integration_kit.metrics.nope  # noqa: B018
