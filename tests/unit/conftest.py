"""Fixtures shared by the unit tests."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def immutable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory nobody may write into, root included (``chattr +i``)."""
    chattr = shutil.which("chattr")
    directory = tmp_path / "immutable"
    directory.mkdir()
    if chattr is None:
        pytest.skip("chattr is not installed: cannot make a directory unwritable for root")
    made = subprocess.run([chattr, "+i", str(directory)], capture_output=True, text=True)
    if made.returncode != 0:
        pytest.skip(f"chattr +i is not supported here: {made.stderr.strip()}")
    try:
        yield directory
    finally:
        subprocess.run([chattr, "-i", str(directory)], check=True)
