"""Topic ownership: what the crash-safe registry costs a KafkaTestCase, beside topic setup itself.

Measures (median of ``--runs``, milliseconds), on a broker and a registry of this run's own:

- ``registry_class_ms``: the registry's share of one class with ``--topics`` topics: read the
  rows (the foreign check), record them (committed before creating), forget them (after the
  deletion is sent);
- ``setup_class_ms``: one class's topic work on the broker without the registry (metadata
  check, ``setup_kafka_topics``, deletion sent): the baseline;
- ``reap_ms``: the first class of a run reaping ``--topics`` leftovers of a dead owner
  (metadata, delete, forget).

Usage::

    python benchmarks/topic_ownership.py [--runs 7] [--topics 3] [--json]
        [--bootstrap-servers HOST:PORT | --backend auto|docker|local]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from integration_kit.kafka import admin_client, delete_topics, ownership, setup_kafka_topics
from integration_kit.kafka.admin import describe_topics
from integration_kit.kafka.ownership import cluster_of, reap_leftovers
from integration_kit.services.ownership import Owner
from integration_kit.services.registry import REGISTRY_FILE, OwnershipRegistry

TARGETS_MS = {"registry_class_ms": 10.0}
#: The registry's share of a class's topic work: at most this fraction.
TARGET_SHARE = 0.05


async def measure(servers: str, runs: int, topics: int) -> dict[str, Any]:
    registry_ms: list[float] = []
    setup_ms: list[float] = []
    reap_ms: list[float] = []
    me = Owner.current()
    with tempfile.TemporaryDirectory() as scratch:
        registry = OwnershipRegistry(Path(scratch) / REGISTRY_FILE)
        async with admin_client(servers, timeout=30) as admin:
            cluster = await cluster_of(admin, servers)
            for _ in range(runs):
                names = [f"ik.bench{uuid.uuid4().hex[:8]}.main.t{i}" for i in range(topics)]
                # the registry's share of a class
                start = time.perf_counter()
                registry.owners(cluster, names)
                registry.record(cluster, names, me)
                registry.forget(cluster, names, me)
                registry_ms.append((time.perf_counter() - start) * 1000)
                # the broker's: the class's topic work without the registry
                start = time.perf_counter()
                await describe_topics(admin, names)
                await setup_kafka_topics(admin, dict.fromkeys(names, 3), timeout=30)
                await delete_topics(admin, names, wait=False)
                setup_ms.append((time.perf_counter() - start) * 1000)
                # reaping a dead owner's topics
                leftovers = [f"ik.bench{uuid.uuid4().hex[:8]}.main.t{i}" for i in range(topics)]
                await setup_kafka_topics(admin, dict.fromkeys(leftovers, 3), timeout=30)
                registry.record(cluster, leftovers, Owner(**{**_fields(me), "pid": _dead_pid()}))
                fresh = OwnershipRegistry(registry.path)  # as a new process sees it
                start = time.perf_counter()
                reaped = await reap_leftovers(admin, cluster, fresh)
                reap_ms.append((time.perf_counter() - start) * 1000)
                assert sorted(reaped) == sorted(leftovers), reaped
                ownership._REAPED.clear()  # the next run is another process: it reaps again
    result: dict[str, Any] = {
        "runs": runs,
        "topics": topics,
        "registry_class_ms": statistics.median(registry_ms),
        "setup_class_ms": statistics.median(setup_ms),
        "reap_ms": statistics.median(reap_ms),
    }
    result["registry_share"] = result["registry_class_ms"] / result["setup_class_ms"]
    return result


def _fields(owner: Owner) -> dict[str, Any]:
    return {"run_id": owner.run_id, "host": owner.host, "pid": owner.pid, "pid_start": owner.pid_start}


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@contextlib.contextmanager
def _broker(args: argparse.Namespace) -> Iterator[tuple[str, str]]:
    servers = args.bootstrap_servers or (
        None if args.backend else os.environ.get("INTEGRATION_KIT_KAFKA_BOOTSTRAP_SERVERS")
    )
    if servers:
        yield servers, servers
        return
    from integration_kit.config import load_settings
    from integration_kit.services.base import KafkaService
    from integration_kit.services.session import ServiceSession

    settings = load_settings(backend=args.backend or "auto")
    with ServiceSession(settings) as session:
        yield session.endpoint(KafkaService()).bootstrap_servers, f"backend {settings.backend}"


def _table(result: dict[str, Any], source: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(
        title=f"Topic ownership (median of {result['runs']} runs, {result['topics']} topics; {source})"
    )
    for column, justify in (("measure", "left"), ("ms", "right"), ("target", "right"), ("vs setup", "right")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    setup = result["setup_class_ms"]
    share_ok = "ok" if result["registry_share"] <= TARGET_SHARE else "MISSED"
    rows = {
        "registry_class_ms": "registry per class (read, record, forget)",
        "setup_class_ms": "baseline: the class's topic work on the broker",
        "reap_ms": "reaping a dead run's topics (first class of a run)",
    }
    for key, label in rows.items():
        value = result[key]
        target = TARGETS_MS.get(key)
        mark = "" if target is None else (" ok" if value <= target else " MISSED")
        ratio = f"{value / setup:.3f}x" + (
            f" (<= {TARGET_SHARE:g}x {share_ok})" if key == "registry_class_ms" else ""
        )
        table.add_row(label, f"{value:,.2f}", "-" if target is None else f"<= {target:g}{mark}", ratio)
    Console(width=max(Console().width, 120)).print(table)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--runs", type=int, default=7, help="runs per measure; medians are reported")
    parser.add_argument("--topics", type=int, default=3, help="topics per class")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--bootstrap-servers", default=None, help="use this broker")
    parser.add_argument("--backend", default=None, choices=("auto", "docker", "local"), help="start a broker")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.topics < 1:
        parser.error("--runs and --topics must be >= 1")
    with _broker(args) as (servers, source):
        result = asyncio.run(measure(servers, args.runs, args.topics))
    result["broker"] = source
    if args.json:
        print(json.dumps(result))
    else:
        _table(result, source)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
