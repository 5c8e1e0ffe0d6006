"""The key of a snapshot that outlives its run: a hash of everything it is built from.

A warm server (see docs/reuse.md) keeps a test class's snapshot database between runs
under ``ik_snap_<key>``. The key hashes:

- the content of every migration file, with its name (order is part of the content);
- callables among the migrations by their declared fingerprint only: an attribute
  ``ik_fingerprint`` (a string, or a callable returning one), since what an alembic
  upgrade applies lives in files the kit cannot see;
- the seed: each hook's qualified name and the source file of the module defining it
  (a scenario: its function's, and those of the scenarios it requires), and the source
  files of the project's own modules that module imports (``source_closure``:
  a helper, factory or the service's code a seed calls), plus the run seed the seeded
  data is drawn from;
- the server's ``server_version_num``, the kit's version and its snapshot format.

When something cannot be identified exactly (a migration callable without a
fingerprint, a hook whose source file cannot be read), :func:`snapshot_key` returns
``None`` with the reason: the class then builds its snapshot afresh in every run, as
without reuse. Never a key that would reuse a snapshot built from something else.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from integration_kit.postgres.migrations import migration_files
from integration_kit.postgres.source_closure import local_modules
from integration_kit.services.ownership import kit_version

#: Bumped when what a keyed snapshot holds, or how it is marked, changes.
SNAPSHOT_FORMAT = "ik-snapshot-1"
KEY_LENGTH = 24


@dataclass(frozen=True)
class KeyResult:
    """A key, or why there is none."""

    key: str | None
    reason: str = ""


def _file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _declared(item: Any) -> str | None:
    declared = getattr(item, "ik_fingerprint", None)
    if callable(declared):
        declared = declared()
    return None if declared is None else str(declared)


def _source_identity(fn: Any) -> str | None:
    """``module.qualname`` plus a digest of the module's source file and of the project's
    modules it reaches, or None when the source cannot be read."""
    declared = _declared(fn)
    if declared is not None:
        return f"declared:{declared}"
    target = inspect.unwrap(fn) if callable(fn) else fn
    try:
        source = inspect.getsourcefile(target)
    except TypeError:
        source = None
    if source is None or not Path(source).is_file():
        return None
    name = f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', '?')}"
    module = getattr(target, "__module__", None)
    if not module:
        return f"{name}@{_file_digest(Path(source))}"
    reached = local_modules(module, Path(source))  # the seed's own file first, read once
    identity = f"{name}@{reached.pop(module, None) or _file_digest(Path(source))}"
    parts = [f"{other}={digest}" for other, digest in sorted(reached.items())]
    return identity + (";" + ",".join(parts) if parts else "")


def migrations_part(sources: Sequence[Path | Callable[..., Any]]) -> KeyResult:
    digest = hashlib.sha256()
    for item in sources:
        if isinstance(item, Path):
            for file in migration_files(item):
                digest.update(file.name.encode() + b"\0" + _file_digest(file).encode() + b"\n")
            continue
        declared = _declared(item)
        if declared is None:
            name = getattr(item, "__qualname__", repr(item))
            return KeyResult(None, f"migration callable {name} declares no ik_fingerprint")
        digest.update(b"callable\0" + declared.encode() + b"\n")
    return KeyResult(digest.hexdigest())


def seed_part(seeds: Iterable[Any], *, run_seed: int | None) -> KeyResult:
    """The seed's identity; ``run_seed`` is part of it when any seed is given."""
    from integration_kit.seeding.scenarios import Scenario

    digest = hashlib.sha256()
    seen: set[int] = set()

    def add(item: Any) -> str | None:
        if id(item) in seen:
            return None
        seen.add(id(item))
        if isinstance(item, Scenario):
            ident = _source_identity(item.function)
            if ident is None:
                return f"scenario {item.name}: its source file cannot be read"
            digest.update(f"scenario:{item.name}:{ident}\n".encode())
            for dependency in item.dependencies():
                problem = add(dependency)
                if problem:
                    return problem
            return None
        ident = _source_identity(item)
        if ident is None:
            return f"seed hook {getattr(item, '__qualname__', repr(item))}: its source file cannot be read"
        digest.update(f"hook:{ident}\n".encode())
        return None

    items = list(seeds)
    for item in items:
        problem = add(item)
        if problem:
            return KeyResult(None, problem)
    if items:
        digest.update(f"run-seed:{run_seed}".encode())
    return KeyResult(digest.hexdigest())


def snapshot_key(
    sources: Sequence[Path | Callable[..., Any]],
    seeds: Iterable[Any],
    *,
    server_version: str,
    run_seed: int | None,
) -> KeyResult:
    """The key of a snapshot built from ``sources`` and ``seeds`` on a server of
    ``server_version``, or ``KeyResult(None, reason)``."""
    migrations = migrations_part(sources)
    if migrations.key is None:
        return migrations
    seed = seed_part(seeds, run_seed=run_seed)
    if seed.key is None:
        return seed
    digest = hashlib.sha256()
    for part in (SNAPSHOT_FORMAT, kit_version(), server_version, migrations.key, seed.key):
        digest.update(part.encode() + b"\0")
    return KeyResult(digest.hexdigest()[:KEY_LENGTH])
