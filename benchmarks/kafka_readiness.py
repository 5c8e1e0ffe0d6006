"""Kafka readiness: how fast the kit makes topics and consumers usable, beside a naive baseline.

Measures (median of ``--runs``, milliseconds):

- ``setup_1_topic_ms`` / ``setup_10_topics_ms``: ``setup_kafka_topics`` of 1 / 10 topics of
  3 partitions that already exist (delete, wait, create, wait ready: the recreate path);
- ``assign_ms``: ``subscribe_with_backoff`` on a started consumer until it owns all 3
  partitions and knows its start offsets;
- ``fresh_roundtrip_ms``: fresh topic + started, assigned consumer + one message round trip;
- ``naive_roundtrip_ms``: the same with fixed sleeps instead of readiness checks, as suites
  usually do (delete; create; sleep; subscribe; sleep; produce; consume).

It also runs the naive loop without sleeps or readiness steps (``--naive-rounds`` times,
aiokafka's default ``auto_offset_reset="latest"`` and with ``"earliest"``) and counts the
rounds that lost messages. Usage::

    python benchmarks/kafka_readiness.py [--runs 7] [--json]
        [--bootstrap-servers HOST:PORT | --backend auto|docker|local|external]

Without either option it uses ``INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS``, else starts a
broker through the kit (``--backend auto``), which needs the services layer.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from integration_kit.kafka import (
    admin_client,
    create_test_consumer,
    delete_topics,
    setup_kafka_topics,
    subscribe_with_backoff,
)

PARTITIONS = 3
NAIVE_MESSAGES = 30
TARGETS_MS = {
    "setup_1_topic_ms": 300.0,
    "setup_10_topics_ms": 1500.0,
    "assign_ms": 500.0,
    "fresh_roundtrip_ms": 1000.0,
}
# Broker settings that make tests fast (also passed to a broker the kit starts here).
FAST_BROKER_CONFIG = {
    "group.initial.rebalance.delay.ms": "0",
    "offsets.topic.num.partitions": "1",
    "offsets.topic.replication.factor": "1",
    "transaction.state.log.replication.factor": "1",
    "transaction.state.log.min.isr": "1",
    "auto.create.topics.enable": "false",
}


def _topic(stem: str) -> str:
    return f"ik-bench.{stem}.{uuid.uuid4().hex[:8]}"


async def _timed(fn: Callable[[], Awaitable[Any]]) -> float:
    started = time.perf_counter()
    await fn()
    return (time.perf_counter() - started) * 1000


async def _roundtrip(consumer: AIOKafkaConsumer, producer: AIOKafkaProducer, topic: str) -> None:
    marker = uuid.uuid4().bytes
    await producer.send_and_wait(topic, marker)
    while True:
        record = await asyncio.wait_for(consumer.getone(), 30)
        if record.value == marker:
            return


async def measure(servers: str, runs: int, naive_sleep: float, naive_rounds: int) -> dict[str, Any]:
    made: list[str] = []
    samples: dict[str, list[float]] = {key: [] for key in (*TARGETS_MS, "naive_roundtrip_ms")}
    async with admin_client(servers) as admin:
        try:
            one = _topic("one")
            ten = [_topic(f"ten{i}") for i in range(10)]
            made += [one, *ten]
            await setup_kafka_topics(admin, {one: PARTITIONS, **dict.fromkeys(ten, PARTITIONS)})
            # warm-up: the first consumer group of a broker creates __consumer_offsets
            await _fresh_roundtrip(servers, admin, _remember(made, "warm"))
            for _ in range(runs):
                samples["setup_1_topic_ms"].append(
                    await _timed(lambda: setup_kafka_topics(admin, {one: PARTITIONS}))
                )
                samples["setup_10_topics_ms"].append(
                    await _timed(lambda: setup_kafka_topics(admin, dict.fromkeys(ten, PARTITIONS)))
                )
                samples["assign_ms"].append(await _assign(servers, one))
                samples["fresh_roundtrip_ms"].append(
                    await _timed(lambda: _fresh_roundtrip(servers, admin, _remember(made, "fresh")))
                )
            for _ in range(max(1, min(runs, 3))):  # each costs 2 sleeps: fewer runs
                samples["naive_roundtrip_ms"].append(
                    await _timed(
                        lambda: _naive_sleep_roundtrip(servers, admin, _remember(made, "sleep"), naive_sleep)
                    )
                )
            naive_topic = _remember(made, "naive")
            latest = [await _naive_round(servers, admin, naive_topic, "latest") for _ in range(naive_rounds)]
            earliest = [
                await _naive_round(servers, admin, naive_topic, "earliest") for _ in range(naive_rounds)
            ]
        finally:
            await delete_topics(admin, made, wait=False)
    result: dict[str, Any] = {key: round(statistics.median(values), 1) for key, values in samples.items()}
    result.update(
        runs=runs,
        naive_sleep_s=naive_sleep,
        naive_rounds=naive_rounds,
        naive_latest_failed_rounds=sum(1 for lost, error in latest if lost or error),
        naive_earliest_failed_rounds=sum(1 for lost, error in earliest if lost or error),
        naive_latest_error_rounds=sum(1 for _, error in latest if error),
        naive_earliest_error_rounds=sum(1 for _, error in earliest if error),
        naive_latest_lost_messages=sum(lost for lost, error in latest if not error),
        naive_earliest_lost_messages=sum(lost for lost, error in earliest if not error),
        naive_errors=sorted({error for _, error in (*latest, *earliest) if error}),
        naive_messages_per_round=NAIVE_MESSAGES,
        samples_ms={key: [round(v, 1) for v in values] for key, values in samples.items()},
        targets_ms=TARGETS_MS,
    )
    result["targets_met"] = all(result[key] <= limit for key, limit in TARGETS_MS.items())
    return result


def _remember(made: list[str], stem: str) -> str:
    name = _topic(stem)
    made.append(name)
    return name


async def _assign(servers: str, topic: str) -> float:
    consumer = await create_test_consumer(servers)  # started, not subscribed
    try:
        return await _timed(lambda: subscribe_with_backoff(consumer, [topic]))
    finally:
        await consumer.stop()


async def _fresh_roundtrip(servers: str, admin: AIOKafkaAdminClient, topic: str) -> None:
    await setup_kafka_topics(admin, {topic: PARTITIONS})
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0)
    consumer, _ = await asyncio.gather(create_test_consumer(servers, topic), producer.start())
    try:
        await _roundtrip(consumer, producer, topic)
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())


async def _naive_sleep_roundtrip(servers: str, admin: AIOKafkaAdminClient, topic: str, pause: float) -> None:
    with contextlib.suppress(Exception):
        await admin.delete_topics([topic])
    await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    await asyncio.sleep(pause)  # "give the topic time"
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=servers, group_id=uuid.uuid4().hex, auto_offset_reset="earliest"
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0)
    await asyncio.gather(consumer.start(), producer.start())
    try:
        await asyncio.sleep(pause)  # "give the consumer time to join"
        await _roundtrip(consumer, producer, topic)
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())


async def _naive_round(servers: str, admin: AIOKafkaAdminClient, topic: str, reset: str) -> tuple[int, str]:
    """Delete, create, subscribe and produce at once, no waiting; return (messages lost, error)."""
    with contextlib.suppress(Exception):
        await admin.delete_topics([topic])
    response = await admin.create_topics([NewTopic(topic, PARTITIONS, 1)])
    code = response.topic_errors[0][1]
    if code:
        return NAIVE_MESSAGES, f"create answered error {code}"
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=servers, group_id=uuid.uuid4().hex, auto_offset_reset=reset
    )
    producer = AIOKafkaProducer(bootstrap_servers=servers, linger_ms=0)
    await asyncio.gather(consumer.start(), producer.start())
    try:
        values = {uuid.uuid4().bytes for _ in range(NAIVE_MESSAGES)}

        async def drain() -> set[bytes]:
            got: set[bytes] = set()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.5
            while len(got) < len(values) and loop.time() < deadline:
                batches = await consumer.getmany(timeout_ms=100)
                got.update(r.value for records in batches.values() for r in records)
            return got

        _, got = await asyncio.gather(
            asyncio.gather(*(producer.send_and_wait(topic, v, key=v) for v in values)), drain()
        )
        return len(values - got), ""
    except Exception as exc:
        return NAIVE_MESSAGES, type(exc).__name__
    finally:
        await asyncio.gather(consumer.stop(), producer.stop())


@contextlib.contextmanager
def _broker(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    """(bootstrap servers, where they came from): flag, environment, or a kit-started broker."""
    from integration_kit.config import load_settings

    if args.bootstrap_servers is not None:
        yield args.bootstrap_servers, "--bootstrap-servers"
        return
    if args.backend is None:
        configured = load_settings().kafka_bootstrap_servers
        if configured is not None:
            yield configured, "INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS"
            return
    try:
        from integration_kit.services.session import ServiceSession  # type: ignore[import-not-found]
    except ImportError as exc:
        raise SystemExit(
            "starting a broker needs the services layer; give --bootstrap-servers instead"
        ) from exc
    from integration_kit.services.base import KafkaService

    settings = load_settings(backend=args.backend or "auto")
    with ServiceSession(settings) as session:
        endpoint = session.endpoint(KafkaService(broker_config=FAST_BROKER_CONFIG))
        yield endpoint.bootstrap_servers, f"backend {settings.backend}"


def _table(result: dict[str, Any], source: str) -> None:
    from rich.console import Console
    from rich.table import Table

    naive = result["naive_roundtrip_ms"]
    table = Table(title=f"Kafka readiness (median of {result['runs']} runs; broker: {source})")
    for column, justify in (("measure", "left"), ("ms", "right"), ("target", "right"), ("vs naive", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    labels = {
        "setup_1_topic_ms": "setup_kafka_topics: 1 topic x 3 partitions",
        "setup_10_topics_ms": "setup_kafka_topics: 10 topics x 3 partitions",
        "assign_ms": "subscribe -> assigned (+ offsets known)",
        "fresh_roundtrip_ms": "fresh topic + assigned consumer + round trip",
        "naive_roundtrip_ms": f"naive: same with 2 x sleep({result['naive_sleep_s']:g}s)",
    }
    for key, label in labels.items():
        value = result[key]
        target = TARGETS_MS.get(key)
        mark = "" if target is None else (" ok" if value <= target else " MISSED")
        table.add_row(
            label,
            f"{value:,.1f}",
            "-" if target is None else f"<= {target:,.0f}{mark}",
            f"{naive / value:.1f}x faster" if key == "fresh_roundtrip_ms" else "",
        )
    console = Console(width=max(Console().width, 120))
    console.print(table)
    rounds = result["naive_rounds"]
    parts = []
    for reset in ("latest", "earliest"):
        parts.append(
            f"auto_offset_reset={reset}: {result[f'naive_{reset}_failed_rounds']}/{rounds} rounds failed "
            f"({result[f'naive_{reset}_error_rounds']} with errors, "
            f"{result[f'naive_{reset}_lost_messages']} messages lost in the others)"
        )
    errors = ", ".join(result["naive_errors"]) or "none"
    console.print(
        f"naive loop without waits ({rounds} rounds of {NAIVE_MESSAGES} messages): "
        + "; ".join(parts)
        + f"; errors: {errors}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measure; medians are reported")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--bootstrap-servers", default=None, help="use this broker")
    parser.add_argument(
        "--backend", default=None, choices=("auto", "docker", "local", "external"), help="start a broker"
    )
    parser.add_argument("--naive-sleep", type=float, default=1.0, help="seconds per fixed sleep (baseline)")
    parser.add_argument("--naive-rounds", type=int, default=20, help="rounds of the no-wait naive loop")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.naive_rounds < 0 or args.naive_sleep < 0:
        parser.error("--runs must be >= 1, --naive-rounds and --naive-sleep >= 0")
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)  # the naive loop is noisy by design
    with _broker(args) as (servers, source):
        result = asyncio.run(measure(servers, args.runs, args.naive_sleep, args.naive_rounds))
    result["broker"] = source
    if args.json:
        print(json.dumps(result))
    else:
        _table(result, source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
