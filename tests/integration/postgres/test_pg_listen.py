"""LISTEN across restores, and the log line of a restore that terminates the app's sessions."""

from __future__ import annotations

import asyncio
import logging
import re

import asyncpg
import pytest
import pytest_asyncio

from integration_kit.postgres import IsolatedDatabase

pytestmark = [pytest.mark.integration, pytest.mark.asyncio(loop_scope="module")]


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=["swap", "template", "truncate"])
async def listen_db(request, admin_dsn, migrations_dir):
    async with IsolatedDatabase(
        admin_dsn, name=f"pgt_listen_{request.param}", migrations=migrations_dir, isolation=request.param
    ) as db:
        yield db


async def _notify(dsn: str, channel: str, payload: str) -> None:
    app = await asyncpg.connect(dsn)
    try:
        await app.execute("select pg_notify($1, $2)", channel, payload)
    finally:
        await app.close()


async def _wait_for(queue: asyncio.Queue, timeout: float = 5) -> str:
    return await asyncio.wait_for(queue.get(), timeout)


async def test_kit_listener_hears_across_restores(listen_db):
    db = listen_db
    heard: asyncio.Queue[str] = asyncio.Queue()
    callback = lambda conn, pid, channel, payload: heard.put_nowait(payload)  # noqa: E731
    await db.begin_test()
    await db.listen("orders", callback)
    try:
        for cycle in range(5):
            await _notify(db.dsn, "orders", f"n{cycle}")
            assert await _wait_for(heard) == f"n{cycle}"
            app = await asyncpg.connect(db.dsn)  # the app commits: the next begin_test restores
            await app.execute("delete from audit_log")
            await app.close()
            await db.end_test()
            await db.begin_test()
        await _notify(db.dsn, "orders", "last")
        assert await _wait_for(heard) == "last"
    finally:
        await db.unlisten("orders", callback)
        await db.end_test()


async def test_app_listener_resubscribes_through_an_after_hook(listen_db):
    db = listen_db
    heard: asyncio.Queue[str] = asyncio.Queue()
    callback = lambda conn, pid, channel, payload: heard.put_nowait(payload)  # noqa: E731
    state: dict[str, asyncpg.Connection] = {}

    async def subscribe() -> None:
        old = state.get("conn")
        if old is not None and not old.is_closed():
            old.terminate()
        state["conn"] = await asyncpg.connect(db.dsn)
        await state["conn"].add_listener("jobs", callback)

    remove = db.on_restore(after=subscribe)
    await db.begin_test()
    await subscribe()
    try:
        for cycle in range(3):
            await _notify(db.dsn, "jobs", f"j{cycle}")
            assert await _wait_for(heard) == f"j{cycle}"
            await db.end_test()
            await db.restore()  # explicit restore: the after-hook subscribes again
            await db.begin_test()
    finally:
        remove()
        state["conn"].terminate()
        await db.end_test()


async def test_terminated_listener_is_logged(listen_db, caplog):
    db = listen_db
    if db.isolation == "truncate":
        pytest.skip("truncate keeps idle sessions: the listener is not terminated")
    await db.begin_test()
    app = await asyncpg.connect(db.dsn)
    await app.add_listener("lost", lambda *a: None)
    pid = app.get_server_pid()
    await _notify(db.dsn, "other", "the test wrote")  # dirty: the next begin_test restores
    await db.end_test()
    with caplog.at_level(logging.DEBUG, logger="integration_kit.postgres"):
        await db.begin_test()
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and "LISTEN" in r.getMessage()]
    pattern = re.compile(r"pid\(s\) ([\d, ]+) last ran LISTEN")
    listed = [m.group(1) for r in warnings if (m := pattern.search(r.getMessage()))]
    assert any(str(pid) in pids.split(", ") for pids in listed), [r.getMessage() for r in warnings]
    app.terminate()
    await db.end_test()


async def test_routine_termination_is_debug_but_a_transaction_is_a_warning(listen_db, caplog):
    db = listen_db
    await db.begin_test()
    idle = await asyncpg.connect(db.dsn)
    await idle.execute("delete from audit_log")
    await db.end_test()
    with caplog.at_level(logging.DEBUG, logger="integration_kit.postgres"):
        await db.begin_test()
    terminating = [r for r in caplog.records if "terminating" in r.getMessage()]
    if db.isolation != "truncate":  # truncate leaves idle sessions alone
        assert terminating and all(r.levelno == logging.DEBUG for r in terminating)
    caplog.clear()
    busy = await asyncpg.connect(db.dsn)
    await busy.execute("begin; delete from order_items where order_id = 1")  # idle in transaction
    await db.end_test()
    with caplog.at_level(logging.DEBUG, logger="integration_kit.postgres"):
        await db.begin_test()
    warned = [r for r in caplog.records if "terminating" in r.getMessage() and r.levelno == logging.WARNING]
    assert warned and "idle in transaction" in warned[0].getMessage()
    idle.terminate()
    busy.terminate()
    await db.end_test()


async def test_transaction_strategy_never_delivers_notify_of_the_tests_connection(admin_dsn, migrations_dir):
    """Documented: NOTIFY is sent at commit, and the class's transaction never commits."""
    heard: asyncio.Queue[str] = asyncio.Queue()
    async with IsolatedDatabase(
        admin_dsn, name="pgt_listen_tx", migrations=migrations_dir, isolation="transaction"
    ) as db:
        await db.begin_test()
        await db.listen("tx", lambda conn, pid, channel, payload: heard.put_nowait(payload))
        await (await db.connection()).execute("notify tx, 'from the test'")
        await _notify(db.dsn, "tx", "from another connection")
        assert await _wait_for(heard) == "from another connection"
        await asyncio.sleep(0.2)
        assert heard.empty()
        await db.end_test()
