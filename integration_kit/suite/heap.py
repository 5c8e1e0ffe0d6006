"""The heap a test run starts with: built with automatic collection paused, then frozen.

By the end of collection a process holds tens of thousands of objects that live until it
exits: modules, classes, fixtures, the collected items (about 100,000 for the example
service, whose test modules import factory_boy, Faker, the drivers and jsonschema). Every
full garbage collection walks all of them again, only to find them alive: the automatic
ones while the tests run, the five pytest's unraisable-exception check forces at the end,
and the interpreter's own at exit (together 0.3 to 0.7 s a run here). With ``gc_freeze``
on (the default), collection runs with automatic collection paused, and then
``gc.freeze()`` moves what is alive into the permanent generation, which no collection
walks. What the tests allocate is tracked and collected as before.

What it costs: cyclic garbage among the frozen objects is never collected, and their
``__del__`` methods do not run at exit (Python does not promise that they do).
``--no-ik-gc-freeze`` or ``gc_freeze = false`` turns it off.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest


class FrozenHeap:
    """The plugin object: registered only when ``gc_freeze`` is on."""

    @pytest.hookimpl(hookwrapper=True)
    def pytest_collection(self, session: pytest.Session) -> Iterator[None]:
        enabled = gc.isenabled()
        gc.disable()
        try:
            yield
        finally:
            if enabled:
                gc.enable()

    @pytest.hookimpl(trylast=True)
    def pytest_collection_finish(self, session: pytest.Session) -> None:
        gc.freeze()
