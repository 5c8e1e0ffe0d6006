"""The worker: consumes ``orders``, reserves stock, caches, publishes ``orders.confirmed``.

Delivery is at least once: the offset is committed after the order is handled, so a
crash replays it, and :meth:`PostgresStore.reserve` makes a replay change nothing (the
confirmation is published again with the same content). A message that is not an order,
or names an order the database does not have, goes to ``orders.dlq`` with the reason
in its ``error`` header.

Run: ``python -m orders.worker --port 8081`` (``GET /health`` is 200 once the consumer
owns its partitions).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import signal
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from orders.cache import cache_order
from orders.config import Config
from orders.domain import InvalidOrder, read_placed_order
from orders.store import PostgresStore, Store, UnknownOrder

log = logging.getLogger("orders.worker")
JSON_HEADERS = [("content-type", b"application/json")]


@dataclass
class Worker:
    """Handles ``orders`` records; the clients are given, so tests can hand it mocks."""

    config: Config
    store: Store
    redis: aioredis.Redis
    producer: AIOKafkaProducer
    handled: int = 0
    dead_lettered: int = 0
    ready: asyncio.Event = field(default_factory=asyncio.Event)

    async def handle(self, record: ConsumerRecord[Any, Any]) -> None:
        """Reserve, cache and confirm one order; dead-letter what cannot be handled."""
        try:
            order = read_placed_order(record.value)
            reservation = await self.store.reserve(order)
        except (InvalidOrder, UnknownOrder) as exc:
            await self._dead_letter(record, f"{type(exc).__name__}: {exc}")
            return
        await cache_order(self.redis, reservation, ttl_s=self.config.cache_ttl_s)
        await self.producer.send_and_wait(
            self.config.confirmed_topic,
            json.dumps(reservation.confirmed_event()).encode(),
            key=str(reservation.order_id).encode(),
            headers=JSON_HEADERS,
        )
        self.handled += 1
        log.info("order %s %s", reservation.order_id, reservation.outcome)

    async def _dead_letter(self, record: ConsumerRecord[Any, Any], reason: str) -> None:
        headers = [
            ("error", reason.encode(errors="replace")[:1000]),
            ("source", f"{record.topic}/{record.partition}/{record.offset}".encode()),
        ]
        await self.producer.send_and_wait(
            self.config.dlq_topic, record.value, key=record.key, headers=headers
        )
        self.dead_lettered += 1
        log.warning("dead-lettered %s/%s/%s: %s", record.topic, record.partition, record.offset, reason)

    async def run(self, consumer: AIOKafkaConsumer) -> None:
        """Consume until cancelled: handle each record, then commit its offset."""
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            if consumer.assignment():
                self.ready.set()
            for records in batches.values():
                for record in records:
                    await self.handle(record)
            if batches:
                await consumer.commit()


def make_consumer(config: Config) -> AIOKafkaConsumer:
    return AIOKafkaConsumer(
        config.orders_topic,
        bootstrap_servers=config.kafka_bootstrap_servers,
        group_id=config.group_id,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
    )


def make_producer(config: Config) -> AIOKafkaProducer:
    return AIOKafkaProducer(bootstrap_servers=config.kafka_bootstrap_servers, acks="all")


async def serve_health(worker: Worker, port: int) -> Any:
    """``GET /health``: 200 once the consumer owns its partitions, 503 before."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    async def health(request: Any) -> JSONResponse:
        ready = worker.ready.is_set()
        body = {
            "status": "ok" if ready else "starting",
            "handled": worker.handled,
            "dead_lettered": worker.dead_lettered,
        }
        return JSONResponse(body, status_code=200 if ready else 503)

    app = Starlette(routes=[Route("/health", health)])
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    return server


async def main(port: int) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    config = Config.from_env()
    store = await PostgresStore.connect(config.database_url)
    redis = aioredis.Redis.from_url(config.redis_url)
    producer = make_producer(config)
    consumer = make_consumer(config)
    await producer.start()
    await consumer.start()
    worker = Worker(config=config, store=store, redis=redis, producer=producer)
    server = await serve_health(worker, port)
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    tasks = [asyncio.create_task(worker.run(consumer)), asyncio.create_task(server.serve())]
    log.info("worker consuming %s", config.orders_topic)
    stopped = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, stopped], return_when=asyncio.FIRST_COMPLETED)
    server.should_exit = True
    for task in tasks:
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            await task
    await consumer.stop()
    await producer.stop()
    await redis.aclose()
    await store.close()
    for task in done:
        if task is not stopped and task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8081)
    asyncio.run(main(parser.parse_args().port))
