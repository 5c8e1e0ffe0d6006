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
async def database_dsn(ik_postgres: Endpoint) -> AsyncIterator[str]:
    """The DSN of a new, empty database, dropped afterwards."""
    admin = await asyncpg.connect(ik_postgres.dsn)
    name = f"ik_seedtest_{uuid.uuid4().hex[:10]}"
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        yield _database_dsn(ik_postgres.dsn, name)
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def empty_pg(database_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection to a new, empty database."""
    connection = await asyncpg.connect(database_dsn)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def redis(ik_redis: Endpoint) -> AsyncIterator[object]:
    """A RedisKit scoped to a prefix of its own (``prefix`` isolation), emptied afterwards."""
    from integration_kit.redis import RedisKit
    from integration_kit.redis.client import open_client

    client = await open_client(ik_redis, db=0)
    kit = RedisKit(client, isolation="prefix", prefix=f"ik:seedtest:{uuid.uuid4().hex[:8]}:")
    await kit.claim()  # the scope is the kit's before anything is written to it
    await kit.reset()  # and empty while the test runs (the owner key comes back at release)
    try:
        yield kit
    finally:
        await kit.release()
        await kit.aclose()


@pytest.fixture
async def pg(empty_pg: asyncpg.Connection) -> asyncpg.Connection:
    """A connection to a new database holding the shop schema."""
    await empty_pg.execute(SHOP_SCHEMA)
    return empty_pg


SEED_TOPICS = ("prices", "account-events", "events")


@pytest.fixture
async def kafka(ik_kafka: Endpoint) -> AsyncIterator[object]:
    """A KafkaHandle whose declared topics (``SEED_TOPICS``) are new, uniquely named ones."""
    from integration_kit.kafka.handle import KafkaHandle
    from integration_kit.kafka.topics import create_topics, delete_topics

    token = uuid.uuid4().hex[:8]
    real = {name: f"ik-seedtest.{token}.{name}" for name in SEED_TOPICS}
    await create_topics(ik_kafka.bootstrap_servers, list(real.values()), timeout=30)
    handle = KafkaHandle(ik_kafka.bootstrap_servers, topics=real)
    try:
        yield handle
    finally:
        await handle.aclose()
        await delete_topics(ik_kafka.bootstrap_servers, list(real.values()), wait=False)
