"""A seed's snapshot key covers the project's code the seed runs: a changed helper module,
factory or service module (imported at module level, in a function body, relatively or by
``import_module``) changes the key; an unrelated module or installed code does not."""

from __future__ import annotations

import importlib
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from integration_kit.postgres.snapshot_key import seed_part
from integration_kit.postgres.source_closure import imported_names, local_modules


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[dict[str, str]], str]]:
    """``write({"pkg/__init__.py": ..., ...})`` lays out a project under a unique package
    name (returned) on sys.path; its modules are forgotten afterwards."""
    root = f"p{uuid.uuid4().hex[:10]}"
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(files: dict[str, str]) -> str:
        for name, text in files.items():
            path = tmp_path / root / name
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text.replace("PKG", root))
        return root

    yield write
    for name in [name for name in sys.modules if name == root or name.startswith(f"{root}.")]:
        del sys.modules[name]


LAYOUT = {
    "__init__.py": "",
    "helpers.py": "ROWS = 1\n",
    "lazy.py": "VALUE = 'a'\n",
    "by_name.py": "X = 1\n",
    "unrelated.py": "Y = 1\n",
    "sub/__init__.py": "",
    "sub/sibling.py": "Z = 1\n",
    "sub/seeds.py": (
        "import asyncpg\n"
        "import importlib\n"
        "from PKG import helpers\n"
        "from . import sibling\n"
        "\n"
        "async def seed(conn):\n"
        "    from PKG.lazy import VALUE  # imported where it runs\n"
        "    importlib.import_module('PKG.by_name')\n"
        "    await conn.execute(VALUE * helpers.ROWS)\n"
    ),
}


def _key(root: str) -> str | None:
    module = importlib.import_module(f"{root}.sub.seeds")
    return seed_part([module.seed], run_seed=1).key


def _touch(tmp_path: Path, root: str, name: str, text: str) -> None:
    (tmp_path / root / name).write_text(text)


@pytest.mark.parametrize(
    "changed", ["helpers.py", "lazy.py", "by_name.py", "sub/sibling.py", "sub/__init__.py", "__init__.py"]
)
def test_a_change_in_any_module_the_seed_reaches_changes_the_key(
    project: Callable[[dict[str, str]], str], tmp_path: Path, changed: str
) -> None:
    root = project(LAYOUT)
    before = _key(root)
    assert before is not None and _key(root) == before, "stable while nothing changes"
    _touch(tmp_path, root, changed, (tmp_path / root / changed).read_text() + "# one more line\n")
    assert _key(root) != before, f"a change of {changed} left the key as it was"


def test_an_unrelated_module_and_installed_code_are_not_part_of_the_key(
    project: Callable[[dict[str, str]], str], tmp_path: Path
) -> None:
    root = project(LAYOUT)
    before = _key(root)
    _touch(tmp_path, root, "unrelated.py", "Y = 2  # changed\n")
    assert _key(root) == before
    reached = local_modules(f"{root}.sub.seeds", tmp_path / root / "sub" / "seeds.py")
    assert set(reached) == {
        root,
        f"{root}.helpers",
        f"{root}.lazy",
        f"{root}.by_name",
        f"{root}.sub",
        f"{root}.sub.sibling",
        f"{root}.sub.seeds",
    }
    assert not any(name.startswith(("asyncpg", "importlib")) for name in reached)


def test_modules_are_followed_without_being_imported(project: Callable[[dict[str, str]], str]) -> None:
    root = project({**LAYOUT, "lazy.py": "raise RuntimeError('imported')\n"})
    assert _key(root) is not None  # the lazy module was read, never run
    assert f"{root}.lazy" not in sys.modules


def test_a_cycle_of_imports_ends(project: Callable[[dict[str, str]], str], tmp_path: Path) -> None:
    root = project(
        {
            **LAYOUT,
            "helpers.py": "from PKG import lazy\nROWS = 1\n",
            "lazy.py": "from PKG import helpers\nVALUE = 'a'\n",
        }
    )
    assert _key(root) is not None


IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True).filter(
    lambda name: name not in {"import", "from", "as"}
)
DOTTED = st.lists(IDENT, min_size=1, max_size=3).map(".".join)


@given(
    module=DOTTED,
    names=st.lists(IDENT, min_size=1, max_size=3),
    alias=IDENT,
    indent=st.sampled_from(["", "    "]),
)
def test_every_form_of_import_is_seen(module: str, names: list[str], alias: str, indent: str) -> None:
    source = (
        f"{indent}import {module} as {alias}\n"
        f"{indent}from {module} import ({', '.join(names)},\n{indent}    )\n"
        f"{indent}from . import {names[0]}\n"
        f"{indent}x = importlib.import_module('{module}')\n"
    ).encode()
    found = imported_names(source, "pkg.sub")
    assert module in found
    assert {f"{module}.{name}" for name in names} <= found
    assert f"pkg.sub.{names[0]}" in found
