"""Test-suite health: seeded shuffling, pollution bisect, leak checks, lint-tests.

* :mod:`~integration_kit.suite.order`: ``--ik-shuffle[=SEED]`` runs the tests in a seeded
  random order (modules, classes, tests), recorded in the run history;
* :mod:`~integration_kit.suite.pollution`: finds the earlier test that makes a test fail
  (``integration-kit tests pollution NODEID``), bisecting the recorded order;
* :mod:`~integration_kit.suite.leaks`: ``--ik-leaks`` warns about threads, processes,
  sockets, environment variables and files a test leaves behind;
* :mod:`~integration_kit.suite.lint`: ``integration-kit lint-tests`` checks the layout,
  markers, references and assertions of a test tree.

Names are imported on first use (PEP 562), so importing the plugin stays light.
"""

from typing import TYPE_CHECKING

from integration_kit._lazy import lazy_exports

if TYPE_CHECKING:
    from integration_kit.suite.leaks import LeakWarning, StateSnapshot, leaked_state
    from integration_kit.suite.lint import Finding, lint_tests
    from integration_kit.suite.order import shuffle_items
    from integration_kit.suite.pollution import Bisection, find_polluter

_LAZY = {
    "Bisection": "integration_kit.suite.pollution",
    "Finding": "integration_kit.suite.lint",
    "LeakWarning": "integration_kit.suite.leaks",
    "StateSnapshot": "integration_kit.suite.leaks",
    "find_polluter": "integration_kit.suite.pollution",
    "leaked_state": "integration_kit.suite.leaks",
    "lint_tests": "integration_kit.suite.lint",
    "shuffle_items": "integration_kit.suite.order",
}

__getattr__ = lazy_exports(__name__, _LAZY)

__all__ = [
    "Bisection",
    "Finding",
    "LeakWarning",
    "StateSnapshot",
    "find_polluter",
    "leaked_state",
    "lint_tests",
    "shuffle_items",
]
