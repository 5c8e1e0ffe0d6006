"""In-process throughput of the mock Kafka: produce + consume, messages per second.

``measure_mock_kafka(n_messages)`` is the number ``benchmarks/mocks.py`` reports as
``mock_kafka_msgs_per_s``. Run alone for a table (median of several runs) with the
real aiokafka client against a real broker as the baseline when one is configured::

    python benchmarks/mock_kafka_throughput.py [-n 200000] [--runs 5] [--json]
        [--bootstrap-servers 127.0.0.1:59092]   # default: INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import os
import statistics
import time
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from integration_kit.mocks.kafka import MockKafkaCluster

PARTITIONS = 3
KEYS = [b"key-%d" % i for i in range(1000)]
VALUE = b"x" * 100


async def _consume(consumer, n_messages: int) -> None:
    got = 0
    while got < n_messages:
        batch = await consumer.getmany(timeout_ms=1000)
        if not batch:
            raise RuntimeError(f"consumer stalled after {got} of {n_messages} messages")
        got += sum(len(records) for records in batch.values())


async def _mock_run(n_messages: int, *, wait_each: bool) -> tuple[float, float]:
    """(messages per wall-clock second, messages per CPU second of this process)."""
    cluster = MockKafkaCluster(default_partitions=PARTITIONS)
    cluster.create_topic("bench", PARTITIONS)
    async with (
        cluster.producer() as producer,
        cluster.consumer("bench", group_id="bench", auto_offset_reset="earliest") as consumer,
    ):
        keys = KEYS
        n_keys = len(keys)
        started = time.perf_counter()
        cpu_started = time.process_time()
        if wait_each:
            for i in range(n_messages):
                await producer.send_and_wait("bench", VALUE, key=keys[i % n_keys])
        else:
            for i in range(n_messages):
                await producer.send("bench", VALUE, key=keys[i % n_keys])
        await _consume(consumer, n_messages)
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu_started
    return n_messages / elapsed, n_messages / max(cpu, 1e-9)


DEFAULT_MESSAGES = 200_000


async def measure_mock_kafka_async(n_messages: int = DEFAULT_MESSAGES, *, wait_each: bool = False) -> float:
    """Messages/s for producing ``n_messages`` (keyed, 100 B, 3 partitions) and consuming them."""
    wall, _cpu = await _mock_run(n_messages, wait_each=wait_each)
    return wall


def measure_mock_kafka_rates(n_messages: int = DEFAULT_MESSAGES) -> tuple[float, float]:
    """(messages per wall second, messages per CPU second) of one produce+consume run."""
    return asyncio.run(_mock_run(n_messages, wait_each=False))


def measure_mock_kafka(n_messages: int = DEFAULT_MESSAGES, *, wait_each: bool = False) -> float:
    """Messages/s of the mock Kafka: ``send`` every message, then ``getmany`` them all back.

    ``wait_each=True`` uses ``send_and_wait`` per message instead. Runs its own event
    loop (call :func:`measure_mock_kafka_async` from async code).
    """
    return asyncio.run(measure_mock_kafka_async(n_messages, wait_each=wait_each))


async def _real_run(n_messages: int, bootstrap: str) -> tuple[float, None]:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    topic = f"ikbench.mock-kafka.{uuid.uuid4().hex[:8]}"
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
        consumer = AIOKafkaConsumer(
            topic, bootstrap_servers=bootstrap, group_id=topic, auto_offset_reset="earliest"
        )
        await producer.start()
        await consumer.start()
        try:
            started = time.perf_counter()
            futures = [await producer.send(topic, VALUE, key=KEYS[i % len(KEYS)]) for i in range(n_messages)]
            await asyncio.gather(*futures)
            await _consume(consumer, n_messages)
            elapsed = time.perf_counter() - started
        finally:
            await consumer.stop()
            await producer.stop()
        return n_messages / elapsed, None
    finally:
        await admin.delete_topics([topic])
        await admin.close()


def _medians(
    fns: list[Callable[[], Coroutine[Any, Any, tuple[float, float | None]]]], runs: int
) -> list[tuple[float, float | None]]:
    """Median (wall, cpu) rates of each benchmark; runs interleave so machine noise hits all alike."""
    results: list[list[tuple[float, float | None]]] = [[] for _ in fns]
    for _ in range(runs):
        for i, fn in enumerate(fns):
            gc.collect()
            results[i].append(asyncio.run(fn()))
    out: list[tuple[float, float | None]] = []
    for r in results:
        cpus = [c for _, c in r if c is not None]
        out.append((statistics.median(w for w, _ in r), statistics.median(cpus) if cpus else None))
    return out


def main(argv: list[str] | None = None) -> int:
    from integration_kit.config import load_settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "-n", "--messages", type=int, default=DEFAULT_MESSAGES, help="messages per run (mock)"
    )
    parser.add_argument("--real-messages", type=int, default=20_000, help="messages per run (real broker)")
    parser.add_argument("--runs", type=int, default=5, help="runs per row; the median is reported")
    parser.add_argument("--bootstrap-servers", default=None, help="real broker for the baseline row")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    args = parser.parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)  # topic deletion chatter of the baseline
    bootstrap = args.bootstrap_servers
    if bootstrap is None:
        bootstrap = load_settings().kafka_bootstrap_servers

    rows: list[tuple[str, int, float | None, float | None]] = []
    (mock, mock_cpu), (waited, waited_cpu) = _medians(
        [
            lambda: _mock_run(args.messages, wait_each=False),
            lambda: _mock_run(args.messages, wait_each=True),
        ],
        args.runs,
    )
    rows.append(("mock: send + getmany", args.messages, mock, mock_cpu))
    rows.append(("mock: send_and_wait + getmany", args.messages, waited, waited_cpu))
    real = None
    if bootstrap is not None:
        ((real, _),) = _medians([lambda: _real_run(args.real_messages, bootstrap)], max(1, min(args.runs, 3)))
    rows.append(("aiokafka, real broker", args.real_messages, real, None))
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None

    if args.json:
        print(
            json.dumps(
                {
                    "mock_kafka_msgs_per_s": round(mock),
                    "mock_kafka_cpu_msgs_per_s": None if mock_cpu is None else round(mock_cpu),
                    "mock_kafka_send_and_wait_msgs_per_s": round(waited),
                    "real_kafka_msgs_per_s": None if real is None else round(real),
                    "n_messages": args.messages,
                    "runs": args.runs,
                    "load_average_1m": load,
                    "cpus": os.cpu_count(),
                    "target_msgs_per_s": 100_000,
                }
            )
        )
        return 0

    from rich.console import Console
    from rich.table import Table

    baseline = real if real is not None else waited
    table = Table(title=f"Mock Kafka produce+consume throughput (median of {args.runs} runs)")
    table.add_column("path")
    table.add_column("messages", justify="right")
    table.add_column("msgs/s (wall)", justify="right")
    table.add_column("msgs per CPU-s", justify="right")
    table.add_column("x baseline", justify="right")
    for name, n, rate, cpu in rows:
        table.add_row(
            name,
            f"{n:,}",
            "-" if rate is None else f"{rate:,.0f}",
            "-" if cpu is None else f"{cpu:,.0f}",
            "-" if rate is None else f"{rate / baseline:.1f}x",
        )
    console = Console()
    console.print(table)
    described = (
        f"aiokafka on {bootstrap}" if real is not None else "mock send_and_wait (no broker configured)"
    )
    console.print(
        f"baseline: {described}; "
        f"target >= 100,000 msgs/s (wall): {'met' if mock >= 100_000 else 'NOT met'}; "
        f"load average {load if load is None else round(load, 2)} on {os.cpu_count()} CPUs "
        "(wall-clock rates fall when other processes compete for the CPUs)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
