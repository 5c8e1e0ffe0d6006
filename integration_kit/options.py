"""The kit's pytest command-line options as settings (``load_settings(cli=...)``)."""

from __future__ import annotations

from typing import Any


def cli_settings(config: Any) -> dict[str, Any]:
    """The settings given on the pytest command line of ``config`` (None: not given)."""
    return {
        "backend": config.getoption("ik_backend", None),
        "reuse": config.getoption("ik_reuse", None),
        "keep_failed": config.getoption("ik_keep_failed", None),
    }
