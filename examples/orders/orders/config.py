"""Settings from the environment, as a twelve-factor app reads them."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """Where the service's dependencies are and what its topics are called."""

    database_url: str
    redis_url: str
    kafka_bootstrap_servers: str
    orders_topic: str = "orders"
    confirmed_topic: str = "orders.confirmed"
    dlq_topic: str = "orders.dlq"
    group_id: str = "orders-worker"
    cache_ttl_s: int = 300

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        env = os.environ if env is None else env
        missing = [
            name for name in ("DATABASE_URL", "REDIS_URL", "KAFKA_BOOTSTRAP_SERVERS") if not env.get(name)
        ]
        if missing:
            raise SystemExit(f"orders: missing environment variables: {', '.join(missing)}")
        return cls(
            database_url=env["DATABASE_URL"],
            redis_url=env["REDIS_URL"],
            kafka_bootstrap_servers=env["KAFKA_BOOTSTRAP_SERVERS"],
            orders_topic=env.get("ORDERS_TOPIC", "orders"),
            confirmed_topic=env.get("CONFIRMED_TOPIC", "orders.confirmed"),
            dlq_topic=env.get("DLQ_TOPIC", "orders.dlq"),
            group_id=env.get("GROUP_ID", "orders-worker"),
            cache_ttl_s=int(env.get("ORDER_CACHE_TTL_S", "300")),
        )
