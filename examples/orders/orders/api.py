"""The HTTP API (Starlette on uvicorn).

- ``POST /orders`` ``{"customer", "sku", "quantity"}``: 201 ``{"id", "status": "pending"}``
  with ``Location``, after the order is stored and published to ``orders``; 400 with
  ``errors`` for a body that is not an order; 422 for an unknown SKU.
- ``GET /orders/{id}``: the decided order from the Redis cache, else the stored one; 404.
- ``GET /health``: 200 when PostgreSQL answers.

Run: ``python -m orders.api --port 8080``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import Any

import redis.asyncio as aioredis
from aiokafka import AIOKafkaProducer
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from orders.cache import cached_order
from orders.config import Config
from orders.domain import InvalidOrder, read_new_order
from orders.store import PostgresStore, UnknownProduct

log = logging.getLogger("orders.api")


async def create_order(request: Request) -> JSONResponse:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return JSONResponse({"errors": {"body": "must be JSON"}}, status_code=400)
    try:
        new = read_new_order(body)
    except InvalidOrder as exc:
        return JSONResponse({"errors": exc.errors}, status_code=400)
    state = request.app.state
    try:
        placed = await state.store.place(new)
    except UnknownProduct:
        return JSONResponse({"errors": {"sku": f"unknown product {new.sku!r}"}}, status_code=422)
    await state.producer.send_and_wait(
        state.config.orders_topic,
        placed.to_json(),
        key=str(placed.id).encode(),
        headers=[("content-type", b"application/json")],
    )
    return JSONResponse(
        {"id": placed.id, "status": "pending"}, status_code=201, headers={"Location": f"/orders/{placed.id}"}
    )


async def get_order(request: Request) -> JSONResponse:
    raw = request.path_params["order_id"]
    if not raw.isdigit() or int(raw) >= 2**63:
        return JSONResponse({"errors": {"id": "must be a positive integer"}}, status_code=404)
    order_id = int(raw)
    state = request.app.state
    cached = await cached_order(state.redis, order_id)
    if cached is not None:
        return JSONResponse({**cached, "source": "cache"})
    stored = await state.store.order(order_id)
    if stored is None:
        return JSONResponse({"errors": {"id": f"no order {order_id}"}}, status_code=404)
    return JSONResponse({**stored, "source": "database"})


async def health(request: Request) -> JSONResponse:
    await request.app.state.store.ping()
    return JSONResponse({"status": "ok"})


def create_app(config: Config | None = None) -> Starlette:
    """The ASGI app; its clients open at start-up and close at shutdown."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        settings = config if config is not None else Config.from_env()
        app.state.config = settings
        app.state.store = await PostgresStore.connect(settings.database_url)
        app.state.redis = aioredis.Redis.from_url(settings.redis_url)
        app.state.producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap_servers, acks="all")
        await app.state.producer.start()
        try:
            yield
        finally:
            await app.state.producer.stop()
            await app.state.redis.aclose()
            await app.state.store.close()

    routes: list[Any] = [
        Route("/orders", create_order, methods=["POST"]),
        Route("/orders/{order_id}", get_order, methods=["GET"]),
        Route("/health", health, methods=["GET"]),
    ]
    return Starlette(routes=routes, lifespan=lifespan)


if __name__ == "__main__":
    import uvicorn

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--port", type=int, default=8080)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    uvicorn.run(create_app(), host="127.0.0.1", port=parser.parse_args().port, log_level="warning")
