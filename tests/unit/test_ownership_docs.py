"""The examples of docs/configuration.md and of docs/kafka.md#ownership-of-topics run as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

DOCS = Path(__file__).resolve().parents[2] / "docs"
_BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)


def _blocks(page: str, section: str | None = None) -> list[str]:
    text = (DOCS / page).read_text()
    if section is not None:
        text = text.split(f"## {section}\n", 1)[1].split("\n## ", 1)[0]
    return _BLOCK.findall(text)


@pytest.mark.parametrize(
    ("page", "section"), [("configuration.md", None), ("kafka.md", "Ownership of topics")]
)
def test_the_examples_run(page: str, section: str | None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYTEST_XDIST_WORKER", raising=False)
    monkeypatch.delenv("PYTEST_XDIST_WORKER_COUNT", raising=False)
    blocks = _blocks(page, section)
    assert blocks
    for block in blocks:
        exec(compile(block, f"{page} example", "exec"), {})
