"""The Python blocks of docs/contracts.md run, in order, in one namespace."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import pytest
from docs_examples import BLOCK

pytestmark = [pytest.mark.unit, pytest.mark.contract]

DOC = Path(__file__).resolve().parents[3] / "docs" / "contracts.md"


def test_doc_has_runnable_blocks() -> None:
    assert len(BLOCK.findall(DOC.read_text())) >= 8


def test_doc_blocks_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_contracts"}
    text = DOC.read_text()
    for number, match in enumerate(BLOCK.finditer(text)):
        line = text[: match.start()].count("\n") + 2
        code = compile(match.group(1), f"{DOC.name}:{line} (block {number})", "exec")
        with contextlib.redirect_stdout(io.StringIO()):
            exec(code, namespace)


def test_printed_outputs_in_the_doc_are_real(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Comment lines after ``print(...)`` show the real output."""
    monkeypatch.chdir(tmp_path)
    namespace: dict[str, object] = {"__name__": "docs_contracts"}
    out = io.StringIO()
    text = DOC.read_text()
    expected: list[str] = []
    for match in BLOCK.finditer(text):
        lines = match.group(1).splitlines()
        for index, line in enumerate(lines):
            if line.startswith("print("):
                for comment in lines[index + 1 :]:
                    if not comment.startswith("# "):
                        break
                    expected.append(comment[2:])
        with contextlib.redirect_stdout(out):
            exec(compile(match.group(1), DOC.name, "exec"), namespace)
    assert expected and out.getvalue().splitlines() == expected
