"""What ``--ik-keep-failed`` kept: a record per failed test, and the cleanup that removes it.

A kept test leaves, on servers that outlive the run (a warm set, or external ones):

- a database ``ik_kept_<token>`` whose comment is ``integration-kit kept: token=<token>
  kept=<unix s>`` (not an owner marker: the reaper of dead runs leaves it alone);
- its Kafka topics (names in the run's namespace, listed in the record);
- its Redis keys copied under ``ik:kept:<token>:`` in database 0, next to a marker key
  ``ik:kept:<token>:__integration_kit_kept__``.

The record ``<runtime>/warm/kept/<token>.json`` names all of it with the endpoints.
:func:`clean_kept` removes only what a record names *and* still carries its kept marker
(a database with another comment, keys without the marker, are left alone); it runs from
``integration-kit services clean`` and, for records older than a day, at the next run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from integration_kit.config import Settings
from integration_kit.services.warm.store import warm_root

log = logging.getLogger("integration_kit.reuse")

DB_PREFIX = "ik_kept_"
COMMENT_PREFIX = "integration-kit kept: "
REDIS_PREFIX = "ik:kept:"
REDIS_MARKER = "__integration_kit_kept__"
#: Records older than this are removed by the next run.
MAX_AGE_S = 86400.0


def kept_dir(settings: Settings) -> Path:
    path = warm_root(settings) / "kept"
    path.mkdir(parents=True, exist_ok=True)
    return path


def comment_for(token: str, kept: float) -> str:
    return f"{COMMENT_PREFIX}token={token} kept={int(kept)}"


def write_record(settings: Settings, token: str, record: dict[str, Any]) -> Path:
    path = kept_dir(settings) / f"{token}.json"
    path.write_text(json.dumps({**record, "token": token, "kept": time.time()}, indent=1, sort_keys=True))
    return path


def records(settings: Settings) -> list[dict[str, Any]]:
    found = []
    for path in sorted(kept_dir(settings).glob("*.json")):
        with contextlib.suppress(OSError, ValueError):
            found.append(dict(json.loads(path.read_text())))
    return found


def clean_kept(settings: Settings, *, older_than: float = 0.0) -> list[str]:
    """Remove what the kept records older than ``older_than`` seconds name; return what."""
    removed: list[str] = []
    now = time.time()
    for record in records(settings):
        if now - float(record.get("kept", now)) < older_than:
            continue
        removed.extend(asyncio.run(_remove(record)))
        with contextlib.suppress(FileNotFoundError):
            (kept_dir(settings) / f"{record['token']}.json").unlink()
    return removed


async def _remove(record: dict[str, Any]) -> list[str]:
    token = str(record["token"])
    removed: list[str] = []
    postgres = record.get("postgres")
    if postgres:
        with contextlib.suppress(OSError):
            removed += await _remove_database(postgres, token)
    redis_info = record.get("redis")
    if redis_info:
        with contextlib.suppress(OSError):
            removed += await _remove_keys(redis_info, token)
    kafka = record.get("kafka")
    if kafka and kafka.get("topics"):
        with contextlib.suppress(OSError):
            removed += await _remove_topics(kafka)
    return removed


async def _remove_database(info: dict[str, Any], token: str) -> list[str]:
    import asyncpg

    from integration_kit.postgres.janitor import quote_ident

    try:
        conn = await asyncpg.connect(str(info["admin_dsn"]))
    except (asyncpg.PostgresError, OSError) as exc:
        log.info("integration-kit: kept database %s not removed: %r", info.get("database"), exc)
        return []
    try:
        name = str(info["database"])
        comment = await conn.fetchval(
            "select shobj_description(oid, 'pg_database') from pg_database where datname = $1", name
        )
        if not name.startswith(DB_PREFIX) or not (comment or "").startswith(
            f"{COMMENT_PREFIX}token={token} "
        ):
            return []  # gone, or not what the kit kept: never dropped
        await conn.execute(f"drop database {quote_ident(name)} with (force)")
        return [f"database {name}"]
    finally:
        await conn.close()


async def _remove_keys(info: dict[str, Any], token: str) -> list[str]:
    import redis.asyncio as aioredis

    prefix = f"{REDIS_PREFIX}{token}:"
    client = aioredis.from_url(str(info["url"]))
    try:
        if not await client.exists(prefix + REDIS_MARKER):
            return []
        keys = [key async for key in client.scan_iter(match=prefix + "*", count=1000)]
        if keys:
            await client.delete(*keys)
        return [f"{len(keys)} Redis key(s) {prefix}*"]
    finally:
        await client.aclose()


async def _remove_topics(info: dict[str, Any]) -> list[str]:
    from aiokafka.admin import AIOKafkaAdminClient

    from integration_kit.kafka.topics import delete_topics

    admin = AIOKafkaAdminClient(bootstrap_servers=str(info["bootstrap_servers"]))
    try:
        await admin.start()
        await delete_topics(admin, list(info["topics"]), wait=False)
    except Exception as exc:  # a broker that is gone: nothing left to remove
        log.info("integration-kit: kept topics not removed: %r", exc)
        return []
    finally:
        await admin.close()
    return [f"topic {name}" for name in info["topics"]]
