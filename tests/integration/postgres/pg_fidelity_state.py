"""The rich schema and an independent view of a database's state (not the kit's diff).

``independent_state`` compares what matters with tools the kit does not use for its
restores: ``pg_dump --schema-only --create`` (schema, database-level settings, grants,
comments, owners), per-relation checksums of the rows in a total order, every sequence's
``last_value``/``is_called`` and every large object's owner, grants and contents.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import asyncpg

RICH_SCHEMA = Path(__file__).parent / "rich_schema"


def rich_migration(role: str) -> Callable[[str], Awaitable[None]]:
    """The rich schema's migrations for ``role`` (the app's role), as a migration callable."""

    async def migrate(dsn: str) -> None:
        from integration_kit.postgres.migrations import split_statements

        conn = await asyncpg.connect(dsn)
        try:
            for path in sorted(RICH_SCHEMA.glob("*.sql")):
                async with conn.transaction():
                    for statement in split_statements(path.read_text().replace("app_role", role)):
                        await conn.execute(statement)
        finally:
            await conn.close()

    migrate.__qualname__ = f"rich_schema_{role}"
    return migrate


def pg_tool(name: str) -> str:
    found = shutil.which(name)
    if found:
        return found
    for candidate in sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}"), reverse=True):
        return str(candidate)
    raise RuntimeError(f"{name} not found: install the PostgreSQL client tools")


def dsn_for(dsn: str, database: str) -> str:
    from integration_kit.postgres.janitor import dsn_for as _dsn_for

    return _dsn_for(dsn, database)


async def _server_major(dsn: str) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        return int(await conn.fetchval("SHOW server_version_num")) // 10000
    finally:
        await conn.close()


def _tool_major(path: str) -> int:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False).stdout
    found = re.search(r"(\d+)\.", out)
    return int(found.group(1)) if found else 0


def _container_publishing(port: int) -> str | None:
    """The docker container that publishes ``port`` (a server the docker backend runs)."""
    docker = shutil.which("docker")
    if docker is None:
        return None
    ids = subprocess.run(
        [docker, "ps", "-q", "--filter", f"publish={port}"], capture_output=True, text=True, check=False
    ).stdout.split()
    return ids[0] if ids else None


async def _pg_dump_argv(dsn: str, database: str) -> list[str]:
    """``pg_dump`` of the server's major: this machine's, or, for a newer server that the
    docker backend runs (pg_dump refuses servers newer than itself), the one inside its
    container, run there against the server's own port."""
    local = pg_tool("pg_dump")
    target = dsn_for(dsn, database)
    server = await _server_major(dsn)
    if _tool_major(local) >= server:
        return [local, "--schema-only", "--create", "--dbname", target]
    port = int(re.search(r":(\d+)/", target).group(1))  # type: ignore[union-attr]
    container = _container_publishing(port)
    if container is None:
        raise RuntimeError(
            f"pg_dump {_tool_major(local)} cannot dump PostgreSQL {server}, and no container runs it"
        )
    inside = re.sub(r"@[^/]+/", "@127.0.0.1:5432/", target)
    return ["docker", "exec", container, "pg_dump", "--schema-only", "--create", "--dbname", inside]


async def schema_dump(dsn: str, database: str) -> str:
    """``pg_dump --schema-only --create`` with the database's name replaced by ``DB``."""
    env = {**os.environ, "PGCONNECT_TIMEOUT": "10"}
    argv = await _pg_dump_argv(dsn, database)
    result = await asyncio.to_thread(
        subprocess.run, argv, capture_output=True, text=True, env=env, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"pg_dump failed: {result.stderr.strip()}")
    # pg_dump >= 15.14 brackets the script with \restrict <random key> lines
    text = "\n".join(
        line for line in result.stdout.splitlines() if not line.startswith(("\\restrict ", "\\unrestrict "))
    )
    return re.sub(rf'\b"?{re.escape(database)}"?\b', "DB", text)


_RELATIONS = """
select format('%I.%I', n.nspname, c.relname) as rel
from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind in ('r', 'm') and c.relispopulated
  and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_'
order by 1
"""

_SEQUENCES = """
select format('%I.%I', n.nspname, c.relname) as seq
from pg_catalog.pg_class c join pg_catalog.pg_namespace n on n.oid = c.relnamespace
where c.relkind = 'S' order by 1
"""

_LARGE_OBJECTS = """
select oid::bigint, lomowner::regrole::text as owner, lomacl::text as acl, md5(lo_get(oid)) as digest
from pg_catalog.pg_largeobject_metadata order by 1
"""


@dataclass
class IndependentState:
    schema: str
    rows: dict[str, tuple[int, str]]
    sequences: dict[str, tuple[int, bool]]
    large_objects: list[tuple]

    def differences(self, other: IndependentState) -> list[str]:
        out = []
        if self.schema != other.schema:
            import difflib

            lines = difflib.unified_diff(
                self.schema.splitlines(), other.schema.splitlines(), lineterm="", n=0
            )
            changed = [line for line in lines if line[:1] in "+-" and line[:3] not in ("+++", "---")]
            out.append("pg_dump --schema-only differs: " + " | ".join(changed[:12]))
        for rel in sorted(set(self.rows) | set(other.rows)):
            if self.rows.get(rel) != other.rows.get(rel):
                out.append(f"rows of {rel}: {self.rows.get(rel)} -> {other.rows.get(rel)}")
        for seq in sorted(set(self.sequences) | set(other.sequences)):
            if self.sequences.get(seq) != other.sequences.get(seq):
                out.append(f"sequence {seq}: {self.sequences.get(seq)} -> {other.sequences.get(seq)}")
        if self.large_objects != other.large_objects:
            out.append(f"large objects: {self.large_objects} -> {other.large_objects}")
        return out


async def independent_state(
    dsn: str, database: str, *, on: asyncpg.Connection | None = None
) -> IndependentState:
    """The state of ``database``, read over a fresh connection (as any client sees it).

    ``on``: read rows, sequences and large objects on this connection instead (the
    test's, inside its transaction); the schema dump always shows the committed state.
    """
    schema = await schema_dump(dsn, database)
    conn = on if on is not None else await asyncpg.connect(dsn_for(dsn, database))
    try:
        rows: dict[str, tuple[int, str]] = {}
        for record in await conn.fetch(_RELATIONS):
            rel = record["rel"]
            row = await conn.fetchrow(
                f"select count(*) as n, coalesce(md5(string_agg(t::text, E'\\n' order by t::text)), '') as d "
                f"from {rel} t"
            )
            rows[rel] = (row["n"], row["d"])
        sequences = {}
        for record in await conn.fetch(_SEQUENCES):
            row = await conn.fetchrow(f"select last_value, is_called from {record['seq']}")
            sequences[record["seq"]] = (row["last_value"], row["is_called"])
        large_objects = [tuple(r) for r in await conn.fetch(_LARGE_OBJECTS)]
    finally:
        if on is None:
            await conn.close()
    return IndependentState(schema, rows, sequences, large_objects)


# What an app (or a test) commits: one entry per row of the fidelity matrix.
MUTATIONS: dict[str, list[str]] = {
    "DML everywhere": [
        "insert into app.customers (email, name) values ('new@example.com', 'New')",
        "update app.customers set name = name || '!' where id % 7 = 0",
        "delete from app.invoices where id in (select id from app.invoices order by id limit 5)",
        "insert into app.invoices (customer_id, total) values (3, 999)",
        "insert into app.events (at, kind) values ('2025-03-01', 'x'), ('2026-03-01', 'y'), "
        "('2030-01-01', 'z')",
        "delete from app.events where at < '2025-01-01' and id % 2 = 0",
        "update app.events set at = '2026-12-31' where id = 10",
        "delete from app.tags where ctid = (select min(ctid) from app.tags where tag = 'red')",
        "insert into app.tags values ('red', 1)",
        "update app.sessions set data = 'changed'",
        "update app.documents set body = body || 'x', blob = blob || '\\x00'::bytea where id = 2",
        "delete from app.bookings where id = 3",
        "update app.notes set body = 'edited'",
        "insert into public.settings values ('new', 'value')",
    ],
    "sequence moves": [
        "select nextval('app.global_id_seq'), nextval('app.global_id_seq')",
        "select setval(pg_get_serial_sequence('app.products', 'id'), 777)",
        "select setval(pg_get_serial_sequence('app.bookings', 'id'), 42, false)",
        "insert into app.audit (tbl, op) values ('x', 'y')",
    ],
    "matview refresh": [
        "insert into app.invoices (customer_id, total) values (1, 12345)",
        "refresh materialized view app.revenue",
        "refresh materialized view app.stale_stats",
    ],
    "TRUNCATE": ["truncate app.tags, app.events, app.audit", "truncate app.customers, app.invoices cascade"],
    "DROP TABLE": ["drop table app.bookings", "drop table public.settings"],
    "CREATE TABLE": [
        "create table app.created_by_test (id int primary key, v text)",
        "insert into app.created_by_test values (1, 'a')",
    ],
    "ALTER TABLE": [
        "alter table app.customers add column nickname text default 'nick'",
        "alter table app.products drop column doc_id",
        "alter table app.tags alter column weight type bigint",
    ],
    "CREATE SCHEMA": [
        "create schema extra",
        "create table extra.t (id int)",
        "insert into extra.t values (1)",
    ],
    "ALTER DATABASE SET": [
        "do $$ begin execute format('alter database %I set search_path = public', current_database()); "
        "execute format('alter database %I reset lock_timeout', current_database()); "
        "execute format('alter database %I set statement_timeout = %L', current_database(), '1min'); end $$",
    ],
    "ALTER ROLE IN DATABASE": [
        "do $$ begin execute format('alter role %I in database %I set work_mem = %L', "
        "'app_role', current_database(), '16MB'); end $$",
    ],
    "large objects": [
        "select lo_unlink(424242)",
        "select lo_from_bytea(515151, 'made by the test')",
    ],
    "large object write": ["select lo_put(424242, 0, 'A')"],
    "COMMENT": [
        "comment on table app.customers is 'changed by the test'",
        "comment on column app.customers.email is null",
        "comment on function app.invoice_count(bigint) is 'new comment'",
    ],
    "GRANT/REVOKE": [
        "revoke insert on app.customers from app_role",
        "grant all on app.invoices to app_role",
        "do $$ begin execute format('grant create on database %I to %I', current_database(), 'app_role'); "
        "end $$",
    ],
    "functions, triggers, policies": [
        "create or replace function app.invoice_count(cid bigint) returns bigint language sql stable "
        "as $$ select 0::bigint $$",
        "alter table app.invoices disable trigger invoices_audit",
        "drop policy notes_owner on app.notes",
        "alter table app.notes disable row level security",
    ],
    "enum and domain": [
        "alter type app.order_status add value 'refunded'",
        "alter domain app.cents drop constraint cents_check",
    ],
}


def mutation_sql(name: str, role: str) -> list[str]:
    return [statement.replace("app_role", role) for statement in MUTATIONS[name]]
