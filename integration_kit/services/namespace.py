"""Per-worker namespaces: what each pytest-xdist worker names its databases, topics and keys.

Worker detection and name building live here and only here. A :class:`Namespace` built
by :meth:`Namespace.for_settings` also carries the run's Kafka topic prefix (the
``kafka_topic_prefix`` setting; on the external backend ``ik.<run>.<worker>.`` by default)
and the Redis databases the kit may use (``redis_databases``).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from integration_kit.errors import ErrorCode, RedisError

if TYPE_CHECKING:
    from integration_kit.config import Settings

PG_MAX_IDENTIFIER = 63
REDIS_DATABASES = 16
#: The databases the kit may use by default: 1..15 (0 is left to the app).
DEFAULT_REDIS_DATABASES = tuple(range(1, REDIS_DATABASES))
MAX_REDIS_DATABASE = 65535
#: The topic prefix on the external backend unless ``kafka_topic_prefix`` says otherwise.
EXTERNAL_TOPIC_PREFIX = "ik.{run}.{worker}."
RUN_TOKEN_LENGTH = 12
_WORKER_SUFFIX = re.compile(r"_gw\d+$")
_DATABASE_ITEM = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
_TOPIC_CHARS = re.compile(r"[A-Za-z0-9._-]*")


def current_worker() -> str:
    """The xdist worker id (``gw0``, ``gw1``...) or ``main`` outside xdist."""
    return os.environ.get("PYTEST_XDIST_WORKER") or "main"


def worker_count() -> int:
    """How many xdist workers this run has (1 outside xdist)."""
    try:
        return max(int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")), 1)
    except ValueError:
        return 1


def parse_redis_databases(raw: Any) -> tuple[int, ...]:
    """``"1-8"``, ``"1,3,5-7"`` or a list of ints -> the sorted, unique indexes.

    ``ValueError`` on bad syntax, a descending range, an index over
    :data:`MAX_REDIS_DATABASE`, or nothing declared (config turns it into
    ``IK-CONFIG-INVALID-VALUE``).
    """
    if isinstance(raw, (list, tuple)):
        items = [str(item) for item in raw]
    elif isinstance(raw, (str, int)) and not isinstance(raw, bool):
        items = str(raw).split(",")
    else:
        raise ValueError(raw)
    found: set[int] = set()
    for item in items:
        match = _DATABASE_ITEM.fullmatch(item)
        if match is None:
            raise ValueError(raw)
        low = int(match[1])
        high = int(match[2]) if match[2] is not None else low
        if low > high or high > MAX_REDIS_DATABASE:
            raise ValueError(raw)
        found.update(range(low, high + 1))
    if not found:
        raise ValueError(raw)
    return tuple(sorted(found))


def describe_databases(databases: tuple[int, ...]) -> str:
    """``(1, 2, 3, 5)`` -> ``"1-3,5"``."""
    parts: list[str] = []
    start = previous = databases[0]
    for index in (*databases[1:], None):
        if index is not None and index == previous + 1:
            previous = index
            continue
        parts.append(str(start) if start == previous else f"{start}-{previous}")
        if index is not None:
            start = previous = index
    return ",".join(parts)


def check_topic_prefix(template: str) -> str:
    """``template`` if it holds ``{run}`` and ``{worker}`` and is legal in topic names otherwise.

    ``ValueError`` else (config turns it into ``IK-CONFIG-INVALID-VALUE``).
    """
    names = _PLACEHOLDER.findall(template)
    if sorted(set(names)) != ["run", "worker"]:
        raise ValueError(template)
    if not _TOPIC_CHARS.fullmatch(_PLACEHOLDER.sub("", template)) or "{" in _PLACEHOLDER.sub("", template):
        raise ValueError(template)
    return template


def run_token() -> str:
    """This run's id as it appears in topic prefixes (shared by the run's xdist workers)."""
    from integration_kit.services.ownership import this_run_id

    return this_run_id()[:RUN_TOKEN_LENGTH]


def _fit(name: str, limit: int) -> str:
    """Shorten ``name`` to ``limit`` bytes, keeping it unique with a hash suffix."""
    if len(name.encode()) <= limit:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    head = name.encode()[: limit - len(digest) - 1].decode(errors="ignore")
    return f"{head}_{digest}"


@dataclass(frozen=True)
class Namespace:
    """Names for one worker. ``worker`` is ``main`` or ``gwN``.

    ``topic_prefix``: the prefix of every topic name (None: ``gwN.`` under xdist, none
    outside). ``redis_databases``: the databases workers pick from, in order.
    """

    worker: str = "main"
    topic_prefix: str | None = None
    redis_databases: tuple[int, ...] = DEFAULT_REDIS_DATABASES

    @classmethod
    def current(cls) -> Namespace:
        return cls(current_worker())

    @classmethod
    def for_settings(
        cls, settings: Settings, *, kafka_backend: str | None = None, worker: str | None = None
    ) -> Namespace:
        """This worker's namespace under ``settings``; ``kafka_backend`` names the backend
        running the run's Kafka (``external`` gets ``ik.<run>.<worker>.`` by default)."""
        worker = worker or current_worker()
        template = settings.kafka_topic_prefix
        if template is None and kafka_backend == "external":
            template = EXTERNAL_TOPIC_PREFIX
        prefix = None if template is None else template.format(run=run_token(), worker=worker)
        return cls(worker, topic_prefix=prefix, redis_databases=settings.redis_databases)

    @property
    def index(self) -> int:
        """0 for ``main``/``gw0``, N for ``gwN``."""
        return int(self.worker[2:]) if self.worker.startswith("gw") else 0

    def database(self, name: str) -> str:
        """``<name>_gwN`` (no double suffix), at most 63 bytes; ``name`` outside xdist."""
        base = _WORKER_SUFFIX.sub("", name)
        if self.worker == "main":
            return _fit(base, PG_MAX_IDENTIFIER)
        suffix = f"_{self.worker}"
        return _fit(base, PG_MAX_IDENTIFIER - len(suffix)) + suffix

    def topic(self, name: str) -> str:
        """Topic name with the prefix: ``topic_prefix`` if set, else the worker's (``gw0.orders``;
        unchanged outside xdist). A name that already carries the prefix is left as it is."""
        prefix = self.topic_prefix
        if prefix is None:
            if self.worker == "main":
                return name
            prefix = f"{self.worker}."
        return name if name.startswith(prefix) else prefix + name

    @property
    def redis_db(self) -> int:
        """This worker's Redis database: the Nth of ``redis_databases`` for worker N.

        ``IK-REDIS-DATABASES-EXHAUSTED`` when there are more workers than databases.
        """
        workers = max(self.index + 1, worker_count() if self.worker == current_worker() else 1)
        if workers > len(self.redis_databases):
            raise RedisError(
                ErrorCode.REDIS_DATABASES_EXHAUSTED,
                workers=workers,
                count=len(self.redis_databases),
                declared=describe_databases(self.redis_databases),
                worker=self.worker,
            )
        return self.redis_databases[self.index]

    @property
    def key_prefix(self) -> str:
        """Key prefix for when database indexes cannot be used (e.g. Redis Cluster)."""
        return f"ik:{self.worker}:"
