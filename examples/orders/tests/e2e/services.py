"""The service under test as the e2e and contract tests run it: the API and the worker.

Each runs as a ``ProcessService`` of the test class: started after the class's topics
exist and its database is migrated and seeded, stopped at the end of the class. The
placeholders name the class's own database, Redis database and (per xdist worker) topics.
"""

from __future__ import annotations

import sys
from pathlib import Path

from integration_kit import ProcessService
from integration_kit.services.process import HttpHealth

ROOT = Path(__file__).resolve().parents[2]
MIGRATIONS = ROOT / "orders" / "migrations"
TOPICS = {"orders": 3, "orders.confirmed": 1, "orders.dlq": 1}

ENV = {
    "DATABASE_URL": "{postgres.dsn}",
    "REDIS_URL": "{redis.url}",
    "KAFKA_BOOTSTRAP_SERVERS": "{kafka.bootstrap_servers}",
    "ORDERS_TOPIC": "{kafka.topic:orders}",
    "CONFIRMED_TOPIC": "{kafka.topic:orders.confirmed}",
    "DLQ_TOPIC": "{kafka.topic:orders.dlq}",
    "GROUP_ID": "orders-worker-{kafka.topic:orders}",
}

API = ProcessService(
    name="api",
    command=[sys.executable, "-m", "orders.api", "--port", "{port}"],
    env=ENV,
    cwd=str(ROOT),
    health=HttpHealth("/health"),
)
WORKER = ProcessService(
    name="worker",
    command=[sys.executable, "-m", "orders.worker", "--port", "{port}"],
    env=ENV,
    cwd=str(ROOT),
    health=HttpHealth("/health"),  # 200 once its consumer owns its partitions
)
