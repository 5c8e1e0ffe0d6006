"""Every Python block of docs/seeding.md runs, in order, in one namespace, against real services."""

from __future__ import annotations

from pathlib import Path

import pytest
from docs_examples import BLOCK, run_python_blocks

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[3] / "docs" / "seeding.md"


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
    await run_python_blocks(DOC, namespace)
