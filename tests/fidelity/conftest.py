"""The fidelity suites (tests/fidelity/redis, tests/fidelity/kafka): shared marker.

``@pytest.mark.fidelity(category, unsupported=None)`` files a scenario under a category of
the fidelity table in docs/mocks.md; ``unsupported="FEATURE"`` marks a scenario that checks
the mock refuses FEATURE with a coded error (status *coded-unsupported*). See
tests/fidelity/fidelity_table.py.
"""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "fidelity(category, unsupported=None): a fidelity scenario's category in docs/mocks.md"
    )
