"""Snapshots kept on a warm PostgreSQL (local and docker): unchanged migrations and seeds are
used as they are, one changed byte rebuilds, stale ones are collected, foreign ones kept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import pytest_asyncio

from integration_kit.config import Settings
from integration_kit.postgres import keyed_snapshots
from integration_kit.postgres.janitor import Janitor, quote_literal
from integration_kit.postgres.keyed_snapshots import KeyedSnapshots, SnapshotMarker, list_snapshots
from integration_kit.services.base import PostgresService
from integration_kit.services.warm.backend import WarmBackend

pytestmark = [pytest.mark.integration, pytest.mark.slow]


async def seed_items(conn: asyncpg.Connection) -> None:
    """Seed hook: a row the snapshot must hold."""
    await conn.execute("insert into items (name) values ('seeded')")


@pytest_asyncio.fixture
async def janitor(warm_settings: Settings, tmp_path: Path) -> AsyncIterator[Janitor]:
    backend = WarmBackend(warm_settings, root=tmp_path)
    endpoint = backend.start(PostgresService(), timeout=90).endpoint
    async with Janitor(endpoint.dsn) as opened:
        yield opened
    backend.close()


def write_migrations(root: Path, default: int = 1) -> Path:
    root.mkdir(exist_ok=True)
    (root / "001_items.sql").write_text("create table items (id serial primary key, name text not null);")
    (root / "002_qty.sql").write_text(f"alter table items add column qty int not null default {default};")
    return root


def run(meta: Path, *, keep: int = 3, seeds: list[object] | None = None) -> KeyedSnapshots:
    """The keyed snapshots of one class as a new run sees them."""
    seeds = [seed_items] if seeds is None else seeds
    return KeyedSnapshots(project="p1", class_id="tests.C", seeds=seeds, run_seed=7, keep=keep, meta_dir=meta)


async def rows(janitor: Janitor, database: str) -> list[tuple[object, ...]]:
    conn = await asyncpg.connect(janitor.dsn(database))
    try:
        return [tuple(r) for r in await conn.fetch("select id, name, qty from items order by id")]
    finally:
        await conn.close()


async def test_unchanged_migrations_and_seed_are_used_as_they_are(janitor: Janitor, tmp_path: Path) -> None:
    migrations = write_migrations(tmp_path / "m")
    first = run(tmp_path / "meta")
    built = await first.get(janitor, "ik_x_t0", migrations=migrations, seed=[seed_items])
    assert first.outcome == "built"
    assert await rows(janitor, built.database) == [(1, "seeded", 1)]

    for meta in (tmp_path / "meta", tmp_path / "no-meta-yet"):  # with and without the kept capture
        again = run(meta)
        reused = await again.get(janitor, "ik_x_t0", migrations=migrations, seed=[seed_items])
        assert again.outcome == "reused"
        assert reused.database == built.database
        assert reused.checksums == built.checksums and reused.schema_digest == built.schema_digest
    clone = await reused.clone_to(janitor, "ik_x_clone")
    assert await rows(janitor, clone) == [(1, "seeded", 1)]
    await janitor.drop(clone)


async def test_one_changed_byte_rebuilds(janitor: Janitor, tmp_path: Path) -> None:
    migrations = write_migrations(tmp_path / "m", default=1)
    old = await run(tmp_path / "meta").get(janitor, "ik_x_t0", migrations=migrations, seed=[seed_items])
    write_migrations(tmp_path / "m", default=2)  # one byte: 1 -> 2
    again = run(tmp_path / "meta")
    new = await again.get(janitor, "ik_x_t0", migrations=migrations, seed=[seed_items])
    assert again.outcome == "built" and new.database != old.database
    assert await rows(janitor, new.database) == [(1, "seeded", 2)]
    other_seed = run(tmp_path / "meta", seeds=[])
    assert (await other_seed.get(janitor, "ik_x_t0", migrations=migrations, seed=[])).database != new.database


async def test_stale_snapshots_beyond_keep_are_collected_and_foreign_ones_kept(
    janitor: Janitor, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(keyed_snapshots, "GC_GRACE_S", 0.0)
    foreign = {
        "ik_snap_0000aaaa": None,  # no comment: not the kit's
        "ik_snap_0000bbbb": "a user's database",
        "ik_snap_0000cccc": SnapshotMarker("0000cccc", "otherproject", "tests.C", 1).comment,
    }
    for name, comment in foreign.items():
        await janitor.execute(f'create database "{name}"')
        if comment:
            await janitor.execute(f'comment on database "{name}" is {quote_literal(comment)}')
    names = []
    for default in (1, 2, 3):
        migrations = write_migrations(tmp_path / "m", default=default)
        snap = await run(tmp_path / "meta", keep=2).get(janitor, "ik_x_t0", migrations=migrations, seed=[])
        names.append(snap.database)
    present = {name for name, _ in await list_snapshots(janitor.admin_dsn)}
    assert names[0] not in present and {names[1], names[2]} <= present
    for name in foreign:
        assert await janitor.exists(name), f"{name} is not the kit's and must stay"
        await janitor.drop(name)
