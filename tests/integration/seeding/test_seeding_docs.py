"""Every Python block of docs/seeding.md runs, in order, in one namespace, against real services."""

from __future__ import annotations

import ast
import inspect
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[3] / "docs" / "seeding.md"
BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def test_doc_has_the_examples_the_issue_asks_for() -> None:
    text = DOC.read_text()
    assert len(BLOCK.findall(text)) >= 12
    for heading in ("**A shop**", "**A ledger**", "**An event-sourced stream**"):
        assert heading in text


async def test_doc_blocks_run(empty_pg: object, redis: object, kafka: object) -> None:
    namespace: dict[str, object] = {
        "__name__": "docs_seeding",
        "connection": empty_pg,
        "redis": redis,
        "kafka": kafka,
    }
    text = DOC.read_text()
    for number, match in enumerate(BLOCK.finditer(text)):
        line = text[: match.start()].count("\n") + 2
        code = compile(
            match.group(1),
            f"{DOC.name}:{line} (block {number})",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )
        outcome = eval(code, namespace)  # the documentation's own examples
        if inspect.iscoroutine(outcome):
            await outcome
