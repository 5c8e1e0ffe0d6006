"""``--ik-keep-failed``: a failing test's database, topics and Redis keys, kept to inspect.

Called by the plugin after a ServiceTestCase test failed and before its teardown, so what
is kept is what the test saw when it failed:

- PostgreSQL: the working database, with the test's own transaction committed (the
  ``transaction`` strategy would roll it back), cloned into ``ik_kept_<token>``;
- Kafka: the class's topics are not deleted at the end of the class;
- Redis: the keys of the test's scope are copied under ``ik:kept:<token>:`` in database 0.

Each comes with a ready-to-paste command (``psql``, ``redis-cli``,
``kafka-console-consumer.sh``), without credentials. A record in the runtime directory names
what was kept (:mod:`integration_kit.services.warm.kept`); ``integration-kit services
clean`` removes it, and so does the next run a day later. Kept data outlives the run only
on servers that do: ``--ik-keep-failed`` turns reuse on (never in CI: there only external
servers keep anything).
"""

from __future__ import annotations

import secrets
import time
from typing import Any
from urllib.parse import urlsplit

from integration_kit.declarations import state_key
from integration_kit.services.warm import kept


def new_token() -> str:
    return "".join(secrets.choice("abcdefghijklmnopqrstuvwxyz0123456789") for _ in range(8))


async def keep_test(ctx: Any, *, nodeid: str, settings: Any) -> list[str]:
    """Keep what the failing test of ``ctx``'s class left; return the report lines."""
    token = new_token()
    record: dict[str, Any] = {"test": nodeid}
    lines = [f"{nodeid}: kept for inspection (remove with `integration-kit services clean`):"]
    database = ctx.state.get(state_key("postgres"))
    if database is not None:
        name = await _keep_database(database, token)
        record["postgres"] = {"admin_dsn": database.admin_dsn, "database": name}
        lines.append(f"  psql {_without_password(database.janitor.dsn(name))!r}")
    kit = ctx.state.get(state_key("redis"))
    if kit is not None:
        count = await _keep_keys(kit, token)
        endpoint = kit.endpoint
        record["redis"] = {"url": f"redis://{endpoint.host}:{endpoint.port}/0", "keys": count}
        lines.append(
            f"  redis-cli -h {endpoint.host} -p {endpoint.port} -n 0 --scan --pattern "
            f"'{kept.REDIS_PREFIX}{token}:*'   ({count} key(s))"
        )
    state = ctx.state.get(state_key("kafka"))
    if state is not None and state.real:
        names = sorted(state.real.values())
        state.kept.update(names)
        record["kafka"] = {"bootstrap_servers": state.bootstrap_servers, "topics": names}
        for name in names:
            lines.append(
                f"  kafka-console-consumer.sh --bootstrap-server {state.bootstrap_servers} "
                f"--topic {name} --from-beginning --property print.key=true"
            )
    kept.write_record(settings, token, record)
    return lines


async def _keep_database(database: Any, token: str) -> str:
    from integration_kit.postgres.janitor import quote_ident, quote_literal
    from integration_kit.postgres.strategies import TransactionStrategy

    strategy = database.strategy
    conn = database._conn
    if isinstance(strategy, TransactionStrategy) and conn is not None and conn.is_in_transaction():
        await conn.execute("commit")  # what the test wrote, as it saw it
        strategy._top = None
    await database._close_connections()
    database._dirty = True  # the next test starts from the snapshot again
    name = await database.janitor.clone_live(database.database, f"{kept.DB_PREFIX}{token}")
    comment = kept.comment_for(token, time.time())
    await database.janitor.execute(f"comment on database {quote_ident(name)} is {quote_literal(comment)}")
    return str(name)


async def _keep_keys(kit: Any, token: str) -> int:
    """Copy the keys of the test's scope (not its owner key) under the kept prefix in db 0."""
    import redis.asyncio as aioredis

    from integration_kit.redis.ownership import OWNER_KEY

    client = kit.client
    prefix = kit.prefix if kit.isolation == "prefix" else ""
    target = f"{kept.REDIS_PREFIX}{token}:"
    count = 0
    async for key in client.scan_iter(match=prefix + "*", count=1000):
        text = key.decode(errors="replace") if isinstance(key, bytes) else str(key)
        if text.endswith(OWNER_KEY):
            continue
        await client.copy(key, target + text[len(prefix) :], destination_db=0, replace=True)
        count += 1
    endpoint = kit.endpoint
    zero = aioredis.Redis(host=endpoint.host, port=endpoint.port, password=endpoint.password, db=0)
    try:
        await zero.set(target + kept.REDIS_MARKER, kept.comment_for(token, time.time()))
    finally:
        await zero.aclose()
    return count


def _without_password(dsn: str) -> str:
    parts = urlsplit(dsn)
    netloc = parts.netloc
    if "@" in netloc:
        auth, _, host = netloc.rpartition("@")
        netloc = f"{auth.partition(':')[0]}@{host}"
    return parts._replace(netloc=netloc).geturl()
