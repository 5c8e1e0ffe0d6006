"""Migrations (ordered SQL files or callables) and seed hooks.

A *migration source* is one of, or a sequence of:

- a directory (``str`` or ``Path``): its ``*.sql`` files are applied in natural order
  (``2_x.sql`` before ``10_y.sql``), each file in its own transaction, statement by
  statement, so a failure names the file and the statement (``IK-PG-MIGRATION-FAILED``);
- a single ``.sql`` file;
- a callable receiving the DSN of the database to migrate, sync or async, such as an
  alembic upgrade (sync callables run in a worker thread).

A *seed hook* is a callable receiving an open asyncpg connection, sync or async; hooks
run in order after the migrations, inside one transaction.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import os
import re
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeAlias

import asyncpg

from integration_kit.errors import ErrorCode, PostgresError

MigrationSource: TypeAlias = "str | Path | Callable[[str], Any] | Sequence[str | Path | Callable[[str], Any]]"
SeedHook: TypeAlias = "Callable[[asyncpg.Connection], Any]"

_DOLLAR_TAG = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


def split_statements(sql: str) -> list[str]:
    """Split SQL text into statements at top-level semicolons.

    Quotes (``'...'``, ``E'...'``, ``"..."``), dollar quotes (``$tag$...$tag$``) and
    comments (``--``, nested ``/* */``) are respected. Empty statements are dropped.
    """
    statements: list[str] = []
    start = i = 0
    n = len(sql)
    while i < n:
        ch = sql[i]
        if ch == "-" and sql.startswith("--", i):
            end = sql.find("\n", i)
            i = n if end == -1 else end + 1
        elif ch == "/" and sql.startswith("/*", i):
            depth, i = 1, i + 2
            while i < n and depth:
                if sql.startswith("/*", i):
                    depth, i = depth + 1, i + 2
                elif sql.startswith("*/", i):
                    depth, i = depth - 1, i + 2
                else:
                    i += 1
        elif ch == "'":
            escapes = (
                i > 0 and sql[i - 1] in "eE" and (i < 2 or not (sql[i - 2].isalnum() or sql[i - 2] == "_"))
            )
            i += 1
            while i < n:
                if escapes and sql[i] == "\\":
                    i += 2
                elif sql[i] == "'":
                    if sql.startswith("''", i):
                        i += 2
                    else:
                        i += 1
                        break
                else:
                    i += 1
        elif ch == '"':
            end = sql.find('"', i + 1)
            while end != -1 and sql.startswith('""', end):
                end = sql.find('"', end + 2)
            i = n if end == -1 else end + 1
        elif ch == "$" and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_")):
            match = _DOLLAR_TAG.match(sql, i)
            if match is None:
                i += 1
            else:
                tag = match.group(0)
                end = sql.find(tag, match.end())
                i = n if end == -1 else end + len(tag)
        elif ch == ";":
            statements.append(sql[start:i])
            i += 1
            start = i
        else:
            i += 1
    statements.append(sql[start:])
    return [s.strip() for s in statements if _has_code(s)]


def _has_code(statement: str) -> bool:
    without_line_comments = re.sub(r"--[^\n]*", "", statement)
    without_comments = re.sub(r"/\*.*?\*/", "", without_line_comments, flags=re.S)
    return bool(without_comments.strip())


def _natural_key(path: Path) -> list[Any]:
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", path.name)]


def resolve_sources(
    source: MigrationSource | None, *, base_dirs: Iterable[Path] = ()
) -> list[Path | Callable]:
    """Normalize ``source`` into a list of existing paths and callables.

    Relative paths are looked up in ``base_dirs`` first, then the current directory.
    A path that exists nowhere raises ``IK-PG-MIGRATIONS-MISSING``.
    """
    if source is None:
        return []
    items: Sequence[Any] = [source] if isinstance(source, str | Path) or callable(source) else source
    resolved: list[Path | Callable] = []
    for item in items:
        if callable(item) and not isinstance(item, str | Path):
            resolved.append(item)
            continue
        path = Path(item)
        looked = [path] if path.is_absolute() else [*(Path(b) / path for b in base_dirs), Path.cwd() / path]
        # each place once (a test module's directory is often the current directory)
        candidates = list(dict.fromkeys(Path(os.path.abspath(c)) for c in looked))
        found = next((c for c in candidates if c.exists()), None)
        if found is None:
            raise PostgresError(
                ErrorCode.PG_MIGRATIONS_MISSING,
                path=" or ".join(str(c) for c in candidates),
            )
        resolved.append(found.resolve())
    return resolved


def migration_files(path: Path) -> list[Path]:
    """The ``.sql`` files of a directory in natural order (or the file itself)."""
    if path.is_file():
        return [path]
    return sorted((p for p in path.iterdir() if p.is_file() and p.suffix == ".sql"), key=_natural_key)


def fingerprint(sources: Sequence[Path | Callable], seeds: Sequence[SeedHook]) -> str:
    """A short hash identifying what a snapshot is built from (file contents, callables)."""
    digest = hashlib.sha1()
    for item in sources:
        if isinstance(item, Path):
            for file in migration_files(item):
                digest.update(str(file).encode())
                digest.update(file.read_bytes())
        else:
            digest.update(_callable_id(item).encode())
    digest.update(b"|seed|")
    for hook in seeds:
        digest.update(_callable_id(hook).encode())
    return digest.hexdigest()[:10]


def _callable_id(fn: Callable) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}#{id(fn)}"


async def _call_migration(fn: Callable, dsn: str) -> Any:
    """Await async callables; run sync ones in a worker thread (alembic starts its own loop)."""
    if inspect.iscoroutinefunction(fn) or inspect.iscoroutinefunction(getattr(fn, "__call__", None)):  # noqa: B004
        return await fn(dsn)
    result = await asyncio.to_thread(fn, dsn)
    if inspect.isawaitable(result):
        result = await result
    return result


async def apply_sql_file(conn: asyncpg.Connection, path: Path) -> int:
    """Apply one file in a transaction, statement by statement; return the statement count."""
    statements = split_statements(path.read_text())
    async with conn.transaction():
        for statement in statements:
            try:
                await conn.execute(statement)
            except asyncpg.PostgresError as exc:
                raise PostgresError(
                    ErrorCode.PG_MIGRATION_FAILED,
                    file=str(path),
                    statement=_shorten(statement),
                    cause=f"{type(exc).__name__}: {exc}",
                ) from exc
    return len(statements)


def _shorten(statement: str, limit: int = 300) -> str:
    flat = " ".join(statement.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


async def apply_migrations(
    dsn: str, source: MigrationSource | None, *, base_dirs: Iterable[Path] = ()
) -> None:
    """Apply every migration of ``source`` to the database at ``dsn``."""
    for item in resolve_sources(source, base_dirs=base_dirs):
        if isinstance(item, Path):
            conn = await asyncpg.connect(dsn)
            try:
                for file in migration_files(item):
                    await apply_sql_file(conn, file)
            finally:
                await conn.close()
        else:
            try:
                await _call_migration(item, dsn)
            except PostgresError:
                raise
            except Exception as exc:
                raise PostgresError(
                    ErrorCode.PG_MIGRATION_FAILED,
                    file=_callable_id(item).split("#")[0],
                    statement="(callable)",
                    cause=f"{type(exc).__name__}: {exc}",
                ) from exc


async def run_seed(conn: asyncpg.Connection, hooks: Sequence[SeedHook]) -> None:
    """Run seed hooks in order, in one transaction on ``conn``.

    Sync hooks run in the event loop's thread (they receive an asyncpg connection, whose
    methods return awaitables; a sync hook may return one and it is awaited).
    """
    async with conn.transaction():
        for hook in hooks:
            result = hook(conn)
            if inspect.isawaitable(result):
                await result


def as_hooks(seed: SeedHook | Sequence[SeedHook] | None) -> list[SeedHook]:
    if seed is None:
        return []
    if callable(seed):
        return [seed]
    return list(seed)
