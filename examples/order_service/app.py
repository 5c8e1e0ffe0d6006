"""A small order service: the kind of service integration-kit is made to test.

It consumes JSON orders from Kafka, stores them in PostgreSQL, caches them in Redis
with a TTL, publishes an ``orders.stored`` event, and answers ``GET /health``.
Configuration comes from the environment (as a twelve-factor app would):

    DATABASE_URL  REDIS_URL  KAFKA_BOOTSTRAP_SERVERS  ORDERS_TOPIC  PORT
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal

import asyncpg
import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

log = logging.getLogger("order_service")
CACHE_TTL_SECONDS = 300


async def store_order(pool: asyncpg.Pool, cache: aioredis.Redis, order: dict) -> bool:
    """Store ``order`` once (idempotent on its id) and cache it; True when it was new."""
    inserted = await pool.fetchval(
        "INSERT INTO orders (id, sku, quantity) VALUES ($1, $2, $3) "
        "ON CONFLICT (id) DO NOTHING RETURNING id",
        int(order["id"]),
        str(order["sku"]),
        int(order.get("quantity", 1)),
    )
    await cache.set(f"order:{order['id']}", json.dumps(order), ex=CACHE_TTL_SECONDS)
    return inserted is not None


async def serve_health(port: int) -> asyncio.Server:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readline()
        body = b'{"status": "ok"}'
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    return await asyncio.start_server(handle, "127.0.0.1", port)


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    topic = os.environ.get("ORDERS_TOPIC", "orders")
    pool = await asyncpg.create_pool(os.environ["DATABASE_URL"], min_size=1, max_size=4)
    cache = aioredis.Redis.from_url(os.environ["REDIS_URL"])
    servers = os.environ["KAFKA_BOOTSTRAP_SERVERS"]
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=servers,
        group_id=os.environ.get("GROUP_ID", "order-service"),
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers)
    await consumer.start()
    await producer.start()
    health = await serve_health(int(os.environ.get("PORT", "8080")))
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    log.info("order service consuming %s", topic)

    async def consume() -> None:
        async for record in consumer:
            order = json.loads(record.value)
            if await store_order(pool, cache, order):
                await producer.send_and_wait(f"{topic}.stored", json.dumps(order).encode(), key=record.key)
            await consumer.commit()
            log.info("stored order %s", order["id"])

    task = asyncio.create_task(consume())
    await stop.wait()
    task.cancel()
    health.close()
    await consumer.stop()
    await producer.stop()
    await cache.aclose()
    await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
