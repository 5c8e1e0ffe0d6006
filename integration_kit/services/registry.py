"""The kit's local record of what it created on shared servers, and who created it.

Some resources cannot carry an owner marker themselves (Kafka refuses topic configs it
does not know), and some lose theirs while a test runs (a Redis database the test must see
empty). The kit records them, *before* creating them or as it claims them, in a small
SQLite file on the machine that runs the tests (:data:`REGISTRY_FILE` under the cache dir,
WAL mode: a committed row survives a SIGKILL of the process), keyed by the place (a
:class:`Place`: a Kafka cluster, a Redis server) and naming the owner (an
:class:`~integration_kit.services.ownership.Owner`: run id, host, pid, pid start time).

The layers use it to tell their own from someone else's (``kafka/ownership.py``,
``redis/ownership.py``) and to remove, at a later run, what a run of this host that is
provably dead left behind. Rows naming another host are never judged. Nothing the registry
does not name is ever removed on its account.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from integration_kit.errors import ConfigError, ErrorCode
from integration_kit.services.ownership import Owner

if TYPE_CHECKING:
    from integration_kit.config import Settings

REGISTRY_FILE = "owned.sqlite3"
#: Rows of dead owners in places never seen again are dropped after this many seconds.
STALE_ROW_S = 30 * 24 * 3600.0
_SCHEMA = """
create table if not exists owned (
    place text not null,
    name text not null,
    owner text not null,
    created real not null,
    primary key (place, name)
)
"""


class Place(Protocol):
    """Where recorded resources live: ``key`` names one server instance (address + its id)."""

    @property
    def key(self) -> str: ...


class OwnershipRegistry:
    """What the kit created, with its owners, in an SQLite file (see the module doc)."""

    _lock = threading.Lock()
    _opened: dict[Path, OwnershipRegistry] = {}

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._use = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = 0
        #: What this process removed (by place key): a topic's deletion may still be under
        #: way on the broker, and the name is still this process's to recreate.
        self._deleted_here: dict[str, set[str]] = {}

    @classmethod
    def for_settings(cls, settings: Settings) -> OwnershipRegistry:
        """The registry under ``settings.cache_dir`` (one object per path and process)."""
        path = Path(settings.cache_dir) / REGISTRY_FILE
        with cls._lock:
            found = cls._opened.get(path)
            if found is None:
                found = cls._opened[path] = cls(path)
            return found

    @contextlib.contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        """The process's connection to the file, in one transaction (committed on exit).

        The connection stays open: closing the last one checkpoints the WAL, a sync per
        use. ``IK-KAFKA-REGISTRY-FAILED`` if the file cannot be opened or written.
        """
        with self._use:
            try:
                conn = self._open()
                conn.execute("begin immediate")
            except (OSError, sqlite3.Error) as exc:
                raise ConfigError(ErrorCode.CONFIG_REGISTRY_UNUSABLE, path=self.path, cause=exc) from exc
            try:
                yield conn
                conn.execute("commit")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("rollback")
                if isinstance(exc, sqlite3.Error):
                    raise ConfigError(ErrorCode.CONFIG_REGISTRY_UNUSABLE, path=self.path, cause=exc) from exc
                raise

    def _open(self) -> sqlite3.Connection:
        if self._conn is None or self._pid != os.getpid():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, timeout=30.0, isolation_level=None, check_same_thread=False)
            conn.execute("pragma journal_mode=wal")
            conn.execute("pragma synchronous=normal")  # WAL: a commit survives a killed process
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    def record(self, place: Place, names: Iterable[str], owner: Owner) -> None:
        """Name ``owner`` as the creator of ``names`` in ``place`` (committed before this returns)."""
        rows = [(place.key, name, owner.text, time.time()) for name in names]
        if not rows:
            return
        with self._connect() as conn:
            conn.executemany("insert or replace into owned values (?, ?, ?, ?)", rows)

    def owners(self, place: Place, names: Sequence[str] | None = None) -> dict[str, Owner | None]:
        """The recorded owner of each of ``names`` that has a row (every row when None);
        None for a row whose owner does not parse."""
        with self._connect() as conn:
            query = conn.execute("select name, owner from owned where place = ?", (place.key,))
            found = query.fetchall()
        wanted = None if names is None else set(names)
        return {name: Owner.parse(text) for name, text in found if wanted is None or name in wanted}

    def forget(self, place: Place, names: Iterable[str], owner: Owner) -> None:
        """Drop the rows of ``names`` that name ``owner`` (someone else's rows stay), once
        they were removed (a topic's deletion sent); this process may create them again
        (:meth:`deleted_here`)."""
        rows = [(place.key, name, owner.text) for name in names]
        if not rows:
            return
        with self._connect() as conn:
            conn.executemany("delete from owned where place = ? and name = ? and owner = ?", rows)
        if owner == Owner.current():
            self._deleted_here.setdefault(place.key, set()).update(name for _, name, _ in rows)

    def deleted_here(self, place: Place, name: str) -> bool:
        """Whether this process created ``name`` and removed it (a topic may still exist a moment)."""
        return name in self._deleted_here.get(place.key, ())

    def leftovers(self, place: Place) -> dict[str, Owner]:
        """What ``place`` holds whose recorded owner is provably dead on this host."""
        return {
            name: owner
            for name, owner in self.owners(place).items()
            if owner is not None and not owner.alive()
        }

    def prune(self, *, older_than: float = STALE_ROW_S) -> int:
        """Drop rows of dead owners older than ``older_than`` seconds, on any place (their
        places, e.g. a local broker of a killed run, are not seen again); returns how many."""
        cutoff = time.time() - older_than
        with self._connect() as conn:
            rows = conn.execute("select place, name, owner from owned where created < ?", (cutoff,))
            dead = [(c, t, o) for c, t, o in rows.fetchall() if _dead(o)]
            conn.executemany("delete from owned where place = ? and name = ? and owner = ?", dead)
        return len(dead)


def _dead(text: str) -> bool:
    owner = Owner.parse(text)
    return owner is not None and not owner.alive()
