"""The example service's e2e scenarios, the kit's way and the naive way, in one run.

    python benchmarks/e2e.py [--reps 20] [--json]

Both ways run the same three scenarios against the real API and worker of
``examples/orders`` (an order confirmed, an order beyond the stock rejected, a malformed
message dead-lettered), once per test class, ``--reps`` classes each, as one pytest run
each (``-p no:randomly``), and read every test's time from pytest's JUnit XML:

- **kit**: ``KafkaTestCase`` + ``PostgresTestCase`` (``swap``) + ``RedisTestCase`` with
  the API and the worker as class-scoped ``ProcessService``s: services started once
  per run, topics recreated and verified ready per class, the database restored from
  its snapshot per test, messages awaited (``expect_message``), never slept for.
- **naive**, as the requirements describe it: PostgreSQL, Redis and Kafka started per
  test class by plain testcontainers (``DockerContainer`` on the same images), fixed
  sleeps after each start and before consuming, topics deleted and recreated without
  waiting for readiness, and ``TRUNCATE`` + reload of the seed data before each test.

Reported: total wall time of each run; the median per-test time (setup + call +
teardown) of the tests that neither start nor end a class (``*_per_test_ms``: what a
test costs once its class is up), of all tests (``*_per_test_all_ms``) and of the
tests that start a class (``*_class_start_ms``: the kit's topics and processes, the
naive containers, sleeps and processes); failures (failed or errored tests); ratios.
The naive way needs a Docker engine; the kit uses the backend of ``INTEGRATION_KIT_BACKEND`` (default auto).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "orders"
#: The targets of issue 16: a kit e2e test <= 1 s median once services are up, 0 failures.
TARGET_KIT_PER_TEST_MS = 1000.0
TESTS_PER_CLASS = 3

SCENARIOS = """
    async def test_an_order_is_confirmed(self):
        order_id = await self.place(sku="A1", quantity=3)
        confirmed = await self.confirmation(order_id)
        assert confirmed["status"] == "confirmed" and confirmed["stock_left"] == 7
        assert await self.stock("A1") == 7

    async def test_an_order_beyond_the_stock_is_rejected(self):
        order_id = await self.place(sku="B2", quantity=2)
        assert (await self.confirmation(order_id))["status"] == "rejected"
        assert await self.stock("B2") == 1

    async def test_a_malformed_message_is_dead_lettered(self):
        await self.send_raw(b'{"id": "x"}')
        assert b"InvalidOrder" in await self.dead_letter_error()
"""

KIT_MODULE = (
    """
import httpx
from integration_kit import KafkaTestCase, PostgresTestCase, RedisTestCase
from tests.e2e.services import API, MIGRATIONS, TOPICS, WORKER
from tests.factories import catalog


class Scenarios(KafkaTestCase, PostgresTestCase, RedisTestCase):
    kafka_topics = TOPICS
    postgres_migrations = MIGRATIONS
    postgres_seed = [catalog]
    postgres_isolation = "swap"
    services = [API, WORKER]

    async def place(self, **order):
        async with httpx.AsyncClient(base_url=self.api.url, timeout=10) as http:
            response = await http.post("/orders", json={"customer": "ada", **order})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def confirmation(self, order_id):
        message = await self.kafka.expect_message(
            "orders.confirmed", where=lambda m: m.json()["id"] == order_id, within=20)
        return message.json()

    async def stock(self, sku):
        return await self.postgres.fetchval("SELECT stock FROM products WHERE sku = $1", sku)

    async def send_raw(self, value):
        await self.kafka.send("orders", value, key="x")

    async def dead_letter_error(self):
        return dict((await self.kafka.expect_message("orders.dlq", within=20)).headers)["error"]
"""
    + SCENARIOS
)

NAIVE_MODULE = """
import asyncio, json, os, socket, subprocess, sys, time, uuid
from pathlib import Path

import asyncpg, httpx, pytest, redis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from testcontainers.core.container import DockerContainer
from testcontainers.core.waiting_utils import wait_for_logs

from tests.factories import catalog

EXAMPLE = Path({example!r})
TOPICS = {{"orders": 3, "orders.confirmed": 1, "orders.dlq": 1}}
SLEEP_AFTER_START = 2.0      # "give the database a moment"
SLEEP_AFTER_KAFKA = 5.0      # "Kafka needs time to settle"
SLEEP_AFTER_APP = 3.0        # "let the worker join its group"
SLEEP_BEFORE_CONSUME = 2.0   # "wait for the worker to process the message"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def kafka_env(port):
    return {{
        "KAFKA_NODE_ID": "1", "KAFKA_PROCESS_ROLES": "broker,controller",
        "KAFKA_LISTENERS": f"PLAINTEXT://0.0.0.0:{{port}},CONTROLLER://127.0.0.1:29093",
        "KAFKA_ADVERTISED_LISTENERS": f"PLAINTEXT://127.0.0.1:{{port}}",
        "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "KAFKA_CONTROLLER_LISTENER_NAMES": "CONTROLLER", "KAFKA_INTER_BROKER_LISTENER_NAME": "PLAINTEXT",
        "KAFKA_CONTROLLER_QUORUM_VOTERS": "1@127.0.0.1:29093",
        "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR": "1", "KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR": "1",
        "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR": "1", "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS": "0",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_REPLICATION_FACTOR": "1",
        "KAFKA_SHARE_COORDINATOR_STATE_TOPIC_MIN_ISR": "1",
        "CLUSTER_ID": "naive" + uuid.uuid4().hex[:17], "KAFKA_HEAP_OPTS": "-Xms256m -Xmx768m",
    }}


class Scenarios:
    @pytest.fixture(scope="class", autouse=True)
    def environment(self, request):
        cls = request.cls
        containers = []
        try:
            pg = (DockerContainer(os.environ.get("INTEGRATION_KIT_POSTGRES_IMAGE", "postgres:15"))
                  .with_env("POSTGRES_USER", "test").with_env("POSTGRES_PASSWORD", "test")
                  .with_env("POSTGRES_DB", "test").with_exposed_ports(5432))
            pg.start(); containers.append(pg)
            wait_for_logs(pg, "database system is ready to accept connections", timeout=60)
            time.sleep(SLEEP_AFTER_START)
            rd = DockerContainer(os.environ.get("INTEGRATION_KIT_REDIS_IMAGE", "redis:7"))
            rd.with_exposed_ports(6379)
            rd.start(); containers.append(rd)
            wait_for_logs(rd, "Ready to accept connections", timeout=30)
            port = free_port()
            kf = DockerContainer(os.environ.get("INTEGRATION_KIT_KAFKA_IMAGE", "apache/kafka:4.1.1"))
            for key, value in kafka_env(port).items():
                kf.with_env(key, value)
            kf.with_bind_ports(port, port)
            kf.start(); containers.append(kf)
            wait_for_logs(kf, "Kafka Server started", timeout=90)
            time.sleep(SLEEP_AFTER_KAFKA)
            cls.dsn = f"postgresql://test:test@127.0.0.1:{{pg.get_exposed_port(5432)}}/test"
            cls.redis_url = f"redis://127.0.0.1:{{rd.get_exposed_port(6379)}}/0"
            cls.servers = f"127.0.0.1:{{port}}"
            asyncio.run(cls.migrate_and_recreate_topics())
            env = {{**os.environ, "DATABASE_URL": cls.dsn, "REDIS_URL": cls.redis_url,
                   "KAFKA_BOOTSTRAP_SERVERS": cls.servers}}
            cls.api_port = free_port()
            procs = [subprocess.Popen([sys.executable, "-m", "orders.api", "--port", str(cls.api_port)],
                                      cwd=EXAMPLE, env=env),
                     subprocess.Popen([sys.executable, "-m", "orders.worker", "--port", str(free_port())],
                                      cwd=EXAMPLE, env=env)]
            time.sleep(SLEEP_AFTER_APP)
            yield
            for proc in procs:
                proc.terminate()
            for proc in procs:
                proc.wait(10)
        finally:
            for container in containers:
                container.stop()

    @classmethod
    async def migrate_and_recreate_topics(cls):
        conn = await asyncpg.connect(cls.dsn)
        for path in sorted((EXAMPLE / "orders" / "migrations").glob("*.sql")):
            await conn.execute(path.read_text())
        await conn.close()
        admin = AIOKafkaAdminClient(bootstrap_servers=cls.servers)
        await admin.start()
        try:
            await admin.delete_topics(list(TOPICS))
        except Exception:
            pass
        await admin.create_topics([NewTopic(n, p, 1) for n, p in TOPICS.items()])  # no readiness check
        await admin.close()

    @pytest.fixture(autouse=True)
    def clean(self, environment):
        async def reload():
            conn = await asyncpg.connect(self.dsn)
            await conn.execute("TRUNCATE reservations, orders, products RESTART IDENTITY CASCADE")
            await catalog(conn)
            await conn.close()
        asyncio.run(reload())
        redis.Redis.from_url(self.redis_url).flushdb()

    async def place(self, **order):
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{{self.api_port}}", timeout=10) as http:
            response = await http.post("/orders", json={{"customer": "ada", **order}})
        assert response.status_code == 201, response.text
        return response.json()["id"]

    async def consume(self, topic):
        await asyncio.sleep(SLEEP_BEFORE_CONSUME)
        consumer = AIOKafkaConsumer(topic, bootstrap_servers=self.servers, auto_offset_reset="earliest",
                                    group_id="t-" + uuid.uuid4().hex)
        await consumer.start()
        try:
            batches = await consumer.getmany(timeout_ms=2000)
        finally:
            await consumer.stop()
        return [record for records in batches.values() for record in records]

    async def confirmation(self, order_id):
        found = [json.loads(r.value) for r in await self.consume("orders.confirmed")]
        matching = [m for m in found if m["id"] == order_id]
        assert matching, f"no confirmation of order {{order_id}} after the sleep"
        return matching[-1]

    async def stock(self, sku):
        conn = await asyncpg.connect(self.dsn)
        try:
            return await conn.fetchval("SELECT stock FROM products WHERE sku = $1", sku)
        finally:
            await conn.close()

    async def send_raw(self, value):
        producer = AIOKafkaProducer(bootstrap_servers=self.servers)
        await producer.start()
        try:
            await producer.send_and_wait("orders", value, key=b"x")
        finally:
            await producer.stop()

    async def dead_letter_error(self):
        records = await self.consume("orders.dlq")
        assert records, "no dead letter after the sleep"
        return dict(records[-1].headers)["error"]
"""


def write_module(path: Path, body: str, reps: int) -> None:
    classes = "".join(f"\n\nclass TestRep{n:02d}(Scenarios):\n    pass\n" for n in range(reps))
    path.write_text(body + classes)


def run_way(name: str, module: Path, junit: Path) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_XDIST")}
    argv = [sys.executable, "-m", "pytest", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
            "--no-ik-metrics", f"--junitxml={junit}", "-o", "junit_duration_report=total",
            f"--rootdir={EXAMPLE}", "-c", str(EXAMPLE / "pyproject.toml"), str(module)]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(argv, cwd=EXAMPLE, env=env, capture_output=True, text=True, check=False)
    total = time.monotonic() - started
    root = ET.parse(junit).getroot()
    cases = list(root.iter("testcase"))
    failures = sum(1 for case in cases if case.find("failure") is not None or case.find("error") is not None)
    times = [float(case.get("time", "0")) for case in cases]
    # Tests run class by class, 3 per class: the first carries the class's set-up (the
    # kit: topics and processes; naive: containers, sleeps, processes), the last its
    # teardown. The middle one is what a test costs once the class is up.
    steady = [t for i, t in enumerate(times) if i % TESTS_PER_CLASS == 1]
    first = [t for i, t in enumerate(times) if i % TESTS_PER_CLASS == 0]
    tail = "\n".join(result.stdout.splitlines()[-12:])
    return {
        "way": name,
        "tests": len(cases),
        "failures": failures,
        "total_s": round(total, 2),
        "per_test_ms": _median_ms(steady),
        "per_test_all_ms": _median_ms(times),
        "class_start_ms": _median_ms(first),
        "exitstatus": result.returncode,
        "tail": tail,
    }


def _median_ms(values: list[float]) -> float | None:
    return round(statistics.median(values) * 1000, 1) if values else None


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--reps", type=int, default=20, help="test classes per way (3 tests each)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--only", choices=("kit", "naive"), help="run one way only")
    args = parser.parse_args()
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="ik-bench-e2e-") as tmp:
        naive = NAIVE_MODULE.format(example=str(EXAMPLE)) + SCENARIOS
        for name, body in (("kit", KIT_MODULE), ("naive", naive)):
            if args.only and args.only != name:
                continue
            module = Path(tmp) / f"test_bench_{name}.py"
            write_module(module, body, args.reps)
            results[name] = run_way(name, module, Path(tmp) / f"{name}.xml")
    kit, naive = results.get("kit", {}), results.get("naive", {})
    figures = {
        "reps": args.reps,
        "tests_per_rep": 3,
        "backend": os.environ.get("INTEGRATION_KIT_BACKEND", "auto"),
        "kit_per_test_ms": kit.get("per_test_ms"),
        "naive_per_test_ms": naive.get("per_test_ms"),
        "kit_total_s": kit.get("total_s"),
        "naive_total_s": naive.get("total_s"),
        "kit_failures": kit.get("failures"),
        "naive_failures": naive.get("failures"),
        "kit_per_test_all_ms": kit.get("per_test_all_ms"),
        "naive_per_test_all_ms": naive.get("per_test_all_ms"),
        "kit_class_start_ms": kit.get("class_start_ms"),
        "naive_class_start_ms": naive.get("class_start_ms"),
        "target_kit_per_test_ms": TARGET_KIT_PER_TEST_MS,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    if kit and naive and kit["per_test_ms"] and kit["total_s"]:
        figures["per_test_ratio"] = round(naive["per_test_ms"] / kit["per_test_ms"], 1)
        figures["total_ratio"] = round(naive["total_s"] / kit["total_s"], 1)
    if args.json:
        print(json.dumps(figures))
    else:
        print(
            f"e2e scenarios: {args.reps} classes x 3 tests per way (kit backend: {figures['backend']}, "
            f"load {figures['load_average']})"
        )
        print(
            f"{'way':<7}{'tests':>7}{'failures':>10}{'per test':>12}{'all tests':>12}"
            f"{'class start':>13}{'total':>10}"
        )
        for row in results.values():
            print(
                f"{row['way']:<7}{row['tests']:>7}{row['failures']:>10}{row['per_test_ms']:>9.0f} ms"
                f"{row['per_test_all_ms']:>9.0f} ms{row['class_start_ms']:>10.0f} ms{row['total_s']:>9.1f} s"
            )
        print(
            "per test: median of the tests that neither start nor end a class (services up);"
            " all tests: median of every test; class start: the first test of each class"
        )
        if "per_test_ratio" in figures:
            print(
                f"naive / kit: {figures['per_test_ratio']}x per test, {figures['total_ratio']}x in total; "
                f"target: kit <= {TARGET_KIT_PER_TEST_MS:.0f} ms per test, 0 failures"
            )
        for row in results.values():
            if row["exitstatus"] not in (0, 1):
                print(f"{row['way']}: pytest exit {row['exitstatus']}:\n{row['tail']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
