"""Every Python block of docs/mocks.md runs, and the test functions it defines pass.

The examples call code under test that the page only names (``sessions.login``,
``myservice.events.publish_order``); minimal stand-ins doing what the comments say are
provided, so what is checked is the kit's part of each example.
"""

from __future__ import annotations

import inspect
import json
import sys
import types
from pathlib import Path
from typing import Any

import pytest
from docs_examples import BLOCK

pytestmark = pytest.mark.unit

DOC = Path(__file__).resolve().parents[3] / "docs" / "mocks.md"


def _sessions() -> Any:
    async def login(redis: Any, user: str) -> None:
        await redis.set(f"session:{user}", "token", ex=1800)

    return types.SimpleNamespace(login=login)


def _myservice(monkeypatch: pytest.MonkeyPatch) -> Any:
    events = types.ModuleType("myservice.events")
    exec(  # what a service module looks like: it imported the driver's class by name
        "from aiokafka import AIOKafkaProducer\n"
        "import json\n"
        "async def publish_order(order):\n"
        "    async with AIOKafkaProducer(bootstrap_servers='kafka:9092') as producer:\n"
        "        await producer.send_and_wait('orders', json.dumps(order).encode())\n",
        events.__dict__,
    )
    package = types.ModuleType("myservice")
    package.events = events  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "myservice", package)
    monkeypatch.setitem(sys.modules, "myservice.events", events)
    return package


def test_the_page_has_examples() -> None:
    assert len(BLOCK.findall(DOC.read_text())) >= 5


@pytest.mark.parametrize("number", range(len(BLOCK.findall(DOC.read_text()))))
async def test_example_runs(number: int, monkeypatch: pytest.MonkeyPatch) -> None:
    code = BLOCK.findall(DOC.read_text())[number]
    namespace: dict[str, Any] = {
        "__name__": f"docs_mocks_{number}",
        "sessions": _sessions(),
        "myservice": _myservice(monkeypatch),
        "json": json,
    }
    exec(compile(code, f"docs/mocks.md block {number}", "exec"), namespace)
    for name, test in list(namespace.items()):
        if name.startswith("test_") and callable(test):
            wants = inspect.signature(test).parameters
            kwargs = {"monkeypatch": monkeypatch} if "monkeypatch" in wants else {}
            result = test(**kwargs)
            if inspect.isawaitable(result):
                await result
