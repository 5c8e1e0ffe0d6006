"""Whose warm services they are: the project a run belongs to, and whether reuse is on.

A project is the directory of the nearest ``pyproject.toml`` at or above the working
directory (else the working directory); its id is a hash of that path. Warm sets are kept
per project (and backend), so two projects never share one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from integration_kit.config import Settings, find_pyproject

#: Environment variables that mean "this is a CI job": reuse is off there, whatever is set.
CI_VARIABLES = ("CI", "GITHUB_ACTIONS", "GITLAB_CI", "BUILDKITE", "JENKINS_URL", "TF_BUILD")


def project_root(start: Path | None = None) -> Path:
    """The directory of the nearest pyproject.toml above ``start`` (default: cwd)."""
    start = (start or Path.cwd()).resolve()
    found = find_pyproject(start)
    return found.parent if found is not None else start


def project_id(root: Path | None = None) -> str:
    """A short stable id of the project at ``root`` (default: :func:`project_root`)."""
    root = (root or project_root()).resolve()
    return hashlib.sha256(str(root).encode()).hexdigest()[:12]


def in_ci(environ: Mapping[str, str] | None = None) -> bool:
    environ = os.environ if environ is None else environ
    return any(environ.get(name, "").strip().lower() not in ("", "0", "false", "no") for name in CI_VARIABLES)


def reuse_enabled(settings: Settings, environ: Mapping[str, str] | None = None) -> bool:
    """Whether this run keeps and reuses warm services: the ``reuse`` setting (or
    ``keep_failed``, whose data must outlive the run), never in CI, never on the external
    backend (its servers are not the kit's to keep)."""
    wanted = settings.reuse or settings.keep_failed
    return wanted and settings.backend != "external" and not in_ci(environ)
