"""The examples of a docs page, as the tests that run them see them: every fenced
``python`` block, compiled with its page and line as the file name (a failure points at
the page), top-level ``await`` allowed."""

from __future__ import annotations

import ast
import inspect
import re
from collections.abc import Iterator
from pathlib import Path
from types import CodeType
from typing import Any

BLOCK = re.compile(r"^```python\n(.*?)^```", re.S | re.M)


def python_blocks(doc: Path) -> Iterator[CodeType]:
    """Each ``python`` block of ``doc``, compiled, in page order."""
    text = doc.read_text()
    for number, match in enumerate(BLOCK.finditer(text)):
        line = text[: match.start()].count("\n") + 2
        yield compile(
            match.group(1),
            f"{doc.name}:{line} (block {number})",
            "exec",
            flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
        )


async def run_python_blocks(doc: Path, namespace: dict[str, Any]) -> None:
    """Run the blocks of ``doc`` one after another in ``namespace``, awaiting what awaits."""
    for code in python_blocks(doc):
        outcome = eval(code, namespace)  # the documentation's own examples
        if inspect.iscoroutine(outcome):
            await outcome
