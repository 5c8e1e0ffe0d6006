"""Lazy re-exports (PEP 562): names whose modules are imported on first attribute access."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def lazy_exports(
    module: str, exports: Mapping[str, str], *, before_import: Callable[[], object] | None = None
) -> Callable[[str], Any]:
    """A module-level ``__getattr__`` that imports ``exports[name]`` when ``name`` is first used.

    Used where importing eagerly would be slow (drivers, fakeredis) or would create an
    import cycle (the test-case mixins import the module that re-exports them).
    ``before_import`` runs before the first import (e.g. the check of a driver's version).
    """

    def __getattr__(name: str) -> Any:
        source = exports.get(name)
        if source is None:
            raise AttributeError(f"module {module!r} has no attribute {name!r}")
        if before_import is not None:
            before_import()
        return getattr(importlib.import_module(source), name)

    return __getattr__
