"""Benchmark of the in-process mocks: mock Kafka throughput, MockRedisClient beside fakeredis.

    python benchmarks/mocks.py            # rich table
    python benchmarks/mocks.py --json     # one JSON object

Redis: the same command mix (SET EX, GET, INCR, HSET, EXPIRE, TTL, PTTL, DEL) through
``MockRedisClient`` and through plain ``fakeredis.FakeAsyncRedis`` (the baseline; the
ratio is the cost of the virtual clock and the exact-expiry overrides), the same for the
sync clients, and through redis-py against a real Redis when ``--redis-url`` /
``INTEGRATION_KIT_REDIS_URL`` is given. "TTL scenario" runs a test of one hour of expiry
(keys with TTLs from 1 s to 1 h, checked as the virtual clock advances): it never sleeps.

Kafka: produce + consume through the mock cluster, measured by
``benchmarks/mock_kafka_throughput.py`` (target >= 100k messages/s), per wall second and
per CPU second of this process (the figure a loaded machine cannot distort).

Each figure is the median of ``--runs`` runs; ratios are the median of per-run ratios.
The in-process Redis figures are operations per CPU second of this process
(``time.process_time``): both contenders are pure CPU, and on a shared machine wall time
mostly measures the neighbours. The real Redis is timed by the wall clock.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import fakeredis
import redis.asyncio as aioredis
from rich.console import Console
from rich.table import Table

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mock_kafka_throughput import measure_mock_kafka_rates  # type: ignore[import-not-found]

from integration_kit.mocks import MockRedisClient, MockRedisSyncClient, VirtualClock

OPS_PER_ROUND = 8


async def _async_workload(client: Any, rounds: int) -> int:
    for i in range(rounds):
        key = f"k{i % 512}"
        await client.set(key, "value", ex=60)
        await client.get(key)
        await client.incr(f"n{i % 64}")
        await client.hset(f"h{i % 64}", "f", i)
        await client.expire(key, 120, gt=True)
        await client.ttl(key)
        await client.pttl(f"h{i % 64}")
        await client.delete(f"gone{i}")
    return rounds * OPS_PER_ROUND


def _sync_workload(client: Any, rounds: int) -> int:
    for i in range(rounds):
        key = f"k{i % 512}"
        client.set(key, "value", ex=60)
        client.get(key)
        client.incr(f"n{i % 64}")
        client.hset(f"h{i % 64}", "f", i)
        client.expire(key, 120, gt=True)
        client.ttl(key)
        client.pttl(f"h{i % 64}")
        client.delete(f"gone{i}")
    return rounds * OPS_PER_ROUND


async def _time_async(
    make: Callable[[], Any],
    rounds: int,
    *,
    cleanup: bool = False,
    timer: Callable[[], float] = time.process_time,
) -> float:
    client = make()
    try:
        await _async_workload(client, 50)  # warm up the connection
        start = timer()
        ops = await _async_workload(client, rounds)
        return ops / (timer() - start)
    finally:
        if cleanup:
            await client.flushdb()
        await client.aclose()


def _time_sync(make: Callable[[], Any], rounds: int) -> float:
    client = make()
    try:
        _sync_workload(client, 50)
        start = time.process_time()
        ops = _sync_workload(client, rounds)
        return ops / (time.process_time() - start)
    finally:
        client.close()


async def _ttl_scenario() -> float:
    """Wall seconds to test one hour of expiry on the virtual clock (no sleeping)."""
    clock = VirtualClock(start=1_700_000_000.0)
    client = MockRedisClient(clock=clock)
    start = time.perf_counter()
    ttls = [1, 5, 30, 60, 300, 900, 1800, 3600]
    for ttl in ttls:
        await client.set(f"ttl:{ttl}", "v", ex=ttl)
    elapsed = 0
    for ttl in ttls:
        clock.advance(ttl - elapsed)
        elapsed = ttl
        assert await client.pttl(f"ttl:{ttl}") == 0  # alive through its last millisecond
        clock.advance(0.001)
        elapsed += 0.001
        assert await client.get(f"ttl:{ttl}") is None
    wall = time.perf_counter() - start
    await client.aclose()
    return wall


async def _kafka(runs: int, messages: int) -> tuple[float, float]:
    """Median (wall, CPU) msgs/s of the mock Kafka (each run has its own loop: a thread)."""
    rates = [await asyncio.to_thread(measure_mock_kafka_rates, messages) for _ in range(runs)]
    return (
        float(statistics.median(wall for wall, _ in rates)),
        float(statistics.median(cpu for _, cpu in rates)),
    )


def _median_ratio(values: list[float], baselines: list[float]) -> float:
    return float(statistics.median(v / b for v, b in zip(values, baselines, strict=True)))


async def run(*, runs: int, rounds: int, redis_url: str | None, kafka_messages: int) -> dict[str, Any]:
    """Measure every contender once per run, interleaved (so machine load hits all alike)."""
    async_contenders: dict[str, Callable[[], Any]] = {
        "mock_redis_ops_per_s": lambda: MockRedisClient(clock=VirtualClock()),
        "fakeredis_ops_per_s": lambda: fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer()),
    }
    sync_contenders: dict[str, Callable[[], Any]] = {
        "mock_redis_sync_ops_per_s": lambda: MockRedisSyncClient(clock=VirtualClock()),
        "fakeredis_sync_ops_per_s": lambda: fakeredis.FakeRedis(server=fakeredis.FakeServer()),
    }
    samples: dict[str, list[float]] = {name: [] for name in [*async_contenders, *sync_contenders]}
    if redis_url:
        samples["real_redis_ops_per_s"] = []
    samples["ttl_scenario_1h_wall_s"] = []
    for run_index in range(runs):
        order = 1 if run_index % 2 == 0 else -1  # alternate who goes first: no warm-cache bias
        for name, make in list(async_contenders.items())[::order]:
            samples[name].append(await _time_async(make, rounds))
        for name, make in list(sync_contenders.items())[::order]:
            samples[name].append(_time_sync(make, rounds))
        if redis_url:
            samples["real_redis_ops_per_s"].append(
                await _time_async(
                    partial(aioredis.Redis.from_url, redis_url, db=9),
                    rounds,
                    cleanup=True,
                    timer=time.perf_counter,  # the server's work is not this process's CPU time
                )
            )
        samples["ttl_scenario_1h_wall_s"].append(await _ttl_scenario())
    results: dict[str, Any] = {"runs": runs, "redis_ops_per_run": rounds * OPS_PER_ROUND}
    results.update({name: statistics.median(values) for name, values in samples.items()})
    results.setdefault("real_redis_ops_per_s", None)
    # Ratios: the median of the per-run ratios (each pair measured back to back).
    results["mock_redis_vs_fakeredis"] = _median_ratio(
        samples["mock_redis_ops_per_s"], samples["fakeredis_ops_per_s"]
    )
    results["mock_redis_sync_vs_fakeredis"] = _median_ratio(
        samples["mock_redis_sync_ops_per_s"], samples["fakeredis_sync_ops_per_s"]
    )
    results["kafka_messages_per_run"] = kafka_messages
    wall, cpu = await _kafka(runs, kafka_messages)
    results["mock_kafka_msgs_per_s"], results["mock_kafka_cpu_msgs_per_s"] = wall, cpu
    results["load_average_1m"] = os.getloadavg()[0]
    return results


def _render(results: dict[str, Any], console: Console) -> None:
    table = Table(title=f"In-process mocks (median of {results['runs']} runs)")
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_column("vs baseline", justify="right")
    base = results["fakeredis_ops_per_s"]
    sync_base = results["fakeredis_sync_ops_per_s"]

    def ops(value: float | None) -> str:
        return "n/a" if value is None else f"{value:,.0f} ops/s"

    table.add_row("fakeredis.FakeAsyncRedis (baseline)", ops(base), "1.00x")
    table.add_row(
        "MockRedisClient (virtual clock)",
        ops(results["mock_redis_ops_per_s"]),
        f"{results['mock_redis_vs_fakeredis']:.2f}x",
    )
    table.add_row("fakeredis.FakeRedis (sync baseline)", ops(sync_base), "1.00x")
    table.add_row(
        "MockRedisSyncClient (virtual clock)",
        ops(results["mock_redis_sync_ops_per_s"]),
        f"{results['mock_redis_sync_vs_fakeredis']:.2f}x",
    )
    real = results["real_redis_ops_per_s"]
    table.add_row(
        "redis-py -> real Redis (same mix)",
        ops(real) if real is not None else "not measured (no --redis-url)",
        f"{real / base:.2f}x" if real is not None else "",
    )
    wall = results["ttl_scenario_1h_wall_s"]
    table.add_row(
        "TTL scenario: 1 h of expiry, virtual clock",
        f"{wall * 1000:.2f} ms wall",
        f"{3600 / wall:,.0f}x real time",
    )
    for label, key in (("wall", "mock_kafka_msgs_per_s"), ("per CPU second", "mock_kafka_cpu_msgs_per_s")):
        kafka = results[key]
        table.add_row(
            f"Mock Kafka produce + consume ({label})",
            f"{kafka:,.0f} msgs/s",
            "meets 100k target" if kafka >= 100_000 else "below 100k target",
        )
    table.add_row("load average (1 min) during the run", f"{results['load_average_1m']:.1f}", "")
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--runs", type=int, default=5, help="runs per figure (the median is reported)")
    parser.add_argument(
        "--rounds", type=int, default=500, help=f"rounds of {OPS_PER_ROUND} Redis commands per run"
    )
    parser.add_argument(
        "--kafka-messages", type=int, default=100_000, help="messages produced and consumed per Kafka run"
    )
    parser.add_argument(
        "--redis-url",
        default=os.environ.get("INTEGRATION_KIT_REDIS_URL"),
        help="also measure a real Redis (database 9 is flushed); default INTEGRATION_KIT_REDIS_URL",
    )
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rounds < 1 or args.kafka_messages < 1:
        parser.error("--runs, --rounds and --kafka-messages must be >= 1")
    results = asyncio.run(
        run(runs=args.runs, rounds=args.rounds, redis_url=args.redis_url, kafka_messages=args.kafka_messages)
    )
    if args.json:
        print(json.dumps(results))
    else:
        _render(results, Console())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
