"""Warm service sets across runs (developer machines): see docs/reuse.md.

- :mod:`.project`: the project a run belongs to; whether reuse is on (never in CI).
- :mod:`.store`: a warm set on disk (services, users, idle time), listing and reaping.
- :mod:`.watchdog`: the detached process owning a set, stopping it when idle.
- :mod:`.backend`: :class:`WarmBackend`, the session's backend with reuse on.
- :mod:`.plugin`: the pytest side (run namespace token, summary lines).
"""

from __future__ import annotations

from integration_kit.services.warm.backend import WarmBackend, WarmService
from integration_kit.services.warm.project import project_id, project_root, reuse_enabled
from integration_kit.services.warm.store import WarmSet, list_sets, reap_sets

__all__ = [
    "WarmBackend",
    "WarmService",
    "WarmSet",
    "list_sets",
    "project_id",
    "project_root",
    "reap_sets",
    "reuse_enabled",
]
