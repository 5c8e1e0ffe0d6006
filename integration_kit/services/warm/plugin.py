"""The pytest side of reuse: the run's namespace token, the warm backend, the summary lines.

Registered by the kit's plugin. With reuse off it does nothing (the run is exactly as
without this module).
"""

from __future__ import annotations

import os
import secrets
from typing import Any

import pytest

from integration_kit.config import Settings
from integration_kit.services.namespace import RUN_ENV
from integration_kit.services.warm.backend import WarmBackend
from integration_kit.services.warm.project import project_root, reuse_enabled

_BACKEND: pytest.StashKey[WarmBackend] = pytest.StashKey()


def run_token() -> str:
    """A fresh run namespace token: ``r`` and 7 base-36 characters."""
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    return "r" + "".join(secrets.choice(digits) for _ in range(7))


class ReusePlugin:
    """Sets the run's namespace (``IK_RUN_NAMESPACE``) while reuse is on; xdist workers
    inherit the controller's."""

    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self._previous: str | None = None
        self._set = False
        if self.enabled() and not hasattr(config, "workerinput"):
            self._previous = os.environ.get(RUN_ENV)
            os.environ[RUN_ENV] = run_token()
            self._set = True

    def enabled(self) -> bool:
        from integration_kit.config import load_settings
        from integration_kit.errors import IntegrationKitError
        from integration_kit.options import cli_settings

        try:
            settings = load_settings(cli=cli_settings(self.config), rootdir=self.config.rootpath)
        except IntegrationKitError:
            return False
        return reuse_enabled(settings)

    def pytest_unconfigure(self, config: pytest.Config) -> None:
        if not self._set:
            return
        if self._previous is None:
            os.environ.pop(RUN_ENV, None)
        else:
            os.environ[RUN_ENV] = self._previous
        self._set = False

    def pytest_terminal_summary(self, terminalreporter: Any, config: pytest.Config) -> None:
        warm = config.stash.get(_BACKEND, None)
        if warm is None:
            return
        for line in warm.notes:
            terminalreporter.write_line(f"integration-kit: {line}")
        if warm.reused:
            terminalreporter.write_line(
                f"integration-kit: reused warm {', '.join(sorted(set(warm.reused)))} "
                f"(set {warm.warm.name}; `integration-kit services status`)"
            )


def reuse_seed(config: pytest.Config) -> int | None:
    """With reuse on and no seed given: a fixed run seed per project (keyed snapshots of
    seeded classes are built from it, so they stay valid from run to run), else None."""
    from integration_kit.config import load_settings
    from integration_kit.errors import IntegrationKitError
    from integration_kit.options import cli_settings
    from integration_kit.services.warm.project import project_id

    try:
        settings = load_settings(cli=cli_settings(config), rootdir=config.rootpath)
    except IntegrationKitError:
        return None
    if not reuse_enabled(settings):
        return None
    return int(project_id(project_root(config.rootpath)), 16) % 2**32


def warm_backend(config: pytest.Config, settings: Settings) -> WarmBackend | None:
    """The run's warm backend with reuse on, else None."""
    if not reuse_enabled(settings):
        return None
    backend = WarmBackend(settings, root=project_root(config.rootpath))
    config.stash[_BACKEND] = backend
    return backend
