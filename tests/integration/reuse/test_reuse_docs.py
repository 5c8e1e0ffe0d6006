"""Every Python block of docs/reuse.md runs, in order, in one namespace, on a local warm set."""

from __future__ import annotations

import shutil
import uuid
from pathlib import Path

import pytest
from docs_examples import BLOCK, run_python_blocks

from integration_kit.config import load_settings
from integration_kit.services.warm.store import list_sets

pytestmark = pytest.mark.integration

DOC = Path(__file__).resolve().parents[3] / "docs" / "reuse.md"


def test_doc_covers_the_life_cycle_safety_and_figures() -> None:
    text = DOC.read_text()
    for heading in ("## Life cycle", "## Safety rules", "## Measured", "## Keeping what failed"):
        assert heading in text
    assert "FIGURES" not in text, "the measured figures are filled in"
    assert len(BLOCK.findall(text)) >= 4


async def test_doc_blocks_run(tmp_path: Path) -> None:
    runtime = Path("/dev/shm" if Path("/dev/shm").is_dir() else "/tmp") / f"ik-docs-{uuid.uuid4().hex[:8]}"
    runtime.mkdir()
    namespace: dict[str, object] = {"__name__": "docs_reuse", "runtime_dir": runtime, "project": tmp_path}
    try:
        await run_python_blocks(DOC, namespace)
    finally:
        settings = load_settings(backend="local", runtime_dir=runtime)
        for warm in list_sets(settings):
            with warm.locked():
                warm.stop("test cleanup")
        shutil.rmtree(runtime, ignore_errors=True)
