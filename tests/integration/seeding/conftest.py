"""Fixtures for the seeding layer's tests: a fresh database with a shop schema, a Redis."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from integration_kit.services.base import Endpoint

SHOP_SCHEMA = """
CREATE SCHEMA shop;
CREATE TYPE shop.status AS ENUM ('new', 'paid', 'shipped');
CREATE TABLE shop.customers (
    id int GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name text NOT NULL,
    email text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE shop.orders (
    id bigserial PRIMARY KEY,
    customer_id int NOT NULL REFERENCES shop.customers,
    status shop.status NOT NULL DEFAULT 'new',
    note jsonb
);
CREATE TABLE shop.order_items (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    order_id bigint NOT NULL REFERENCES shop.orders,
    sku text NOT NULL,
    quantity int NOT NULL CHECK (quantity > 0),
    total numeric(10, 2) GENERATED ALWAYS AS (quantity * 1.5) STORED
);
CREATE TABLE shop.audit (what text NOT NULL, at timestamptz NOT NULL DEFAULT now());
CREATE TABLE shop.transfers (
    id serial PRIMARY KEY,
    source_id int NOT NULL REFERENCES shop.customers,
    target_id int NOT NULL REFERENCES shop.customers
);
"""


def _database_dsn(dsn: str, name: str) -> str:
    return dsn.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture
async def pg(ik_postgres: Endpoint) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a new database holding the shop schema, dropped afterwards."""
    admin = await asyncpg.connect(ik_postgres.dsn)
    name = f"ik_seedtest_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    connection = await asyncpg.connect(_database_dsn(ik_postgres.dsn, name))
    try:
        await connection.execute(SHOP_SCHEMA)
        yield connection
    finally:
        await connection.close()
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()
