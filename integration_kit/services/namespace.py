"""Per-worker namespaces: what each pytest-xdist worker names its databases, topics and keys.

Worker detection and name building live here and only here.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass, field

PG_MAX_IDENTIFIER = 63
REDIS_DATABASES = 16
_WORKER_SUFFIX = re.compile(r"_gw\d+$")


def current_worker() -> str:
    """The xdist worker id (``gw0``, ``gw1``...) or ``main`` outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def _fit(name: str, limit: int) -> str:
    """Shorten ``name`` to ``limit`` bytes, keeping it unique with a hash suffix."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: limit - len(digest) - 1].decode(errors="ignore")
    return f"{head}_{digest}"


#: Set by the plugin when a run uses warm services (reuse on): the run's own namespace.
RUN_ENV = "IK_RUN_NAMESPACE"


def current_run() -> str:
    """The run's namespace token with reuse on (letters and digits), else ''."""
    token = os.environ.get(RUN_ENV, "")
    return token if re.fullmatch(r"[a-z0-9]{1,12}", token) else ""


@dataclass(frozen=True)
class Namespace:
    """Names for one worker. ``worker`` is ``main`` or ``gwN``; ``run`` a token of the
    run (reuse on: runs share warm servers, each in its own names), else ''."""

    worker: str = "main"
    run: str = field(default_factory=current_run)

    @classmethod
    def current(cls) -> Namespace:
        return cls(current_worker())

    @property
    def index(self) -> int:
        """0 for ``main``/``gw0``, N for ``gwN``."""
        return int(self.worker[2:]) if self.worker.startswith("gw") else 0

    def database(self, name: str) -> str:
        """``<name>_gwN`` (no double suffix), at most 63 bytes; ``name`` outside xdist."""
        base = _WORKER_SUFFIX.sub("", name)
        if self.run and not base.endswith(f"_{self.run}"):
            base = _fit(base, PG_MAX_IDENTIFIER - len(self.run) - 6) + f"_{self.run}"
        if self.worker == "main":
            return _fit(base, PG_MAX_IDENTIFIER)
        suffix = f"_{self.worker}"
        return _fit(base, PG_MAX_IDENTIFIER - len(suffix)) + suffix

    def topic(self, name: str) -> str:
        """Topic name with the worker prefix (``gw0.orders``); unchanged outside xdist."""
        prefix = (f"{self.run}." if self.run else "") + ("" if self.worker == "main" else f"{self.worker}.")
        if not prefix or name.startswith(prefix):
            return name
        return prefix + name

    @property
    def redis_db(self) -> int:
        """A Redis database index of this worker's own (1..15; 0 is left to the app)."""
        return 1 + self.index % (REDIS_DATABASES - 1)

    @property
    def key_prefix(self) -> str:
        """Key prefix for when database indexes cannot be used (e.g. Redis Cluster)."""
        return f"ik:{self.run}:{self.worker}:" if self.run else f"ik:{self.worker}:"
