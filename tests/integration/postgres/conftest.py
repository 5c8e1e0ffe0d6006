"""Fixtures for the PostgreSQL layer's tests: the run's server (``ik_postgres``) and helpers."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

MIGRATIONS = Path(__file__).parent / "migrations"


@pytest.fixture(scope="session")
def migrations_dir() -> Path:
    """The five-table test schema with its seed data."""
    return MIGRATIONS


@pytest.fixture(scope="session")
def admin_dsn(ik_postgres) -> str:
    """A DSN of the run's PostgreSQL whose role may create databases."""
    return ik_postgres.dsn


async def _state(dsn: str) -> tuple[dict, dict]:
    from integration_kit.postgres import verify

    conn = await asyncpg.connect(dsn)
    try:
        return await verify.table_checksums(conn), await verify.sequence_values(conn)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def db_state():
    """``await db_state(dsn)``: every table's checksum and every sequence's value, over a fresh connection."""
    return _state
