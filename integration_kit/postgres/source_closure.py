"""The source closure of a module: its file and those of the project's own modules it imports.

A seed hook's snapshot (see :mod:`integration_kit.postgres.snapshot_key`) must be built
again when any code the hook runs changes: a helper module, a factory, the service's own
code. :func:`local_modules` follows the imports written in the sources (module level and
inside function bodies, ``from . import x``, ``importlib.import_module("x")``), without
importing anything, and stops at installed code (the standard library, site-packages): a
new version of a package is not what a seed's snapshot is keyed by. What a hook reads from
data files or reaches by a computed name is not seen: such a hook declares
``ik_fingerprint``.

Files are read once per process while their size, modification time and inode stay.
"""

from __future__ import annotations

import functools
import hashlib
import os
import re
import site
import sys
import sysconfig
from importlib.machinery import PathFinder
from pathlib import Path

#: ``import a.b, c`` / ``from .a import (b, c)`` at any indentation.
_IMPORT = re.compile(
    rb"^[ \t]*(?:from[ \t]+(\.*[\w.]*)[ \t]+import[ \t]+(\([^)]*\)|[^\n#;]*)|import[ \t]+([^\n#;]+))",
    re.MULTILINE,
)
_IMPORT_MODULE = re.compile(rb"import_module\(\s*['\"]([\w.]+)['\"]")
_INSTALLED_PARTS = frozenset({"site-packages", "dist-packages"})


@functools.lru_cache(maxsize=1)
def _installed_roots() -> tuple[str, ...]:
    """Where installed code lives (the standard library, site-packages): not the project's."""
    roots = {sysconfig.get_paths()[name] for name in ("stdlib", "platstdlib", "purelib", "platlib")}
    roots.update(site.getsitepackages())
    roots.add(site.getusersitepackages())
    return tuple(sorted(os.path.realpath(root) + os.sep for root in roots if root))


def installed(path: str) -> bool:
    """Whether the (resolved) file ``path`` is installed code rather than the project's."""
    return path.startswith(_installed_roots()) or not _INSTALLED_PARTS.isdisjoint(Path(path).parts)


def _names(items: bytes) -> list[str]:
    """``a.b as c, d`` -> ``["a.b", "d"]``."""
    found = []
    for item in items.strip(b"() \t\n").split(b","):
        words = item.split()
        if words:
            found.append(words[0].decode(errors="replace"))
    return found


def imported_names(source: bytes, package: str) -> set[str]:
    """Every module name ``source`` imports anywhere, with the submodules a ``from`` import
    may name; relative imports resolved against ``package``."""
    names: set[str] = set()
    for match in _IMPORT.finditer(source):
        plain, base, items = match.group(3), match.group(1), match.group(2)
        if plain is not None:
            names.update(_names(plain))
            continue
        text = base.decode(errors="replace")
        dots = len(text) - len(text.lstrip("."))
        if dots:
            parts = package.split(".") if package else []
            if dots - 1 > len(parts):
                continue
            prefix = ".".join(parts[: len(parts) - (dots - 1)])
            text = ".".join(part for part in (prefix, text[dots:]) if part)
        names.add(text)
        names.update(f"{text}.{name}" for name in _names(items) if name != "*")
    names.update(m.group(1).decode(errors="replace") for m in _IMPORT_MODULE.finditer(source))
    return {name for name in names if name and all(part.isidentifier() for part in name.split("."))}


def find_source(name: str) -> str | None:
    """The resolved source file of module ``name``, found without importing anything."""
    module = sys.modules.get(name)
    if module is not None:
        file = getattr(module, "__file__", None)
        return _real(file) if file and file.endswith(".py") else None
    return _find_unimported(name, tuple(sys.path))


@functools.lru_cache(maxsize=4096)
def _find_unimported(name: str, search: tuple[str, ...]) -> str | None:
    parent_name = name.rpartition(".")[0]
    try:
        if not parent_name:
            spec = PathFinder.find_spec(name, list(search))
        else:
            parent = sys.modules.get(parent_name)
            if parent is not None:
                locations = list(getattr(parent, "__path__", None) or [])
            else:
                parent_file = find_source(parent_name)
                is_package = parent_file is not None and parent_file.endswith(f"{os.sep}__init__.py")
                locations = [os.path.dirname(parent_file)] if parent_file and is_package else []
            if not locations:
                return None  # a module's attribute (``from a import b``), not a submodule
            spec = PathFinder.find_spec(name, locations)
    except (ImportError, ValueError, OSError):
        return None
    file = spec.origin if spec is not None else None
    return _real(file) if file and file.endswith(".py") else None


@functools.lru_cache(maxsize=4096)
def _real(path: str) -> str:
    return os.path.realpath(path)


@functools.lru_cache(maxsize=4096)
def _facts(path: str, stamp: tuple[int, int, int], package: str) -> tuple[str, frozenset[str]]:
    """``(sha256, imported names)`` of a file as of ``stamp`` (size, mtime, inode)."""
    source = Path(path).read_bytes()
    return hashlib.sha256(source).hexdigest(), frozenset(imported_names(source, package))


def local_modules(name: str, path: Path) -> dict[str, str]:
    """Module ``name`` (at ``path``) and each module of the project's own that its source
    imports, and theirs in turn (parent packages included): ``{name: sha256 of its file}``."""
    found: dict[str, str] = {}
    pending: list[tuple[str, str]] = [(name, _real(str(path)))]
    while pending:
        current, file = pending.pop()
        if current in found or (current != name and installed(file)):
            continue
        package = current if file.endswith(f"{os.sep}__init__.py") else current.rpartition(".")[0]
        try:
            stat = os.stat(file)
            digest, imports = _facts(file, (stat.st_size, stat.st_mtime_ns, stat.st_ino), package)
        except OSError:
            continue
        found[current] = digest
        wanted = set(imports)
        wanted.update(".".join(current.split(".")[:end]) for end in range(1, current.count(".") + 1))
        for other in sorted(wanted - found.keys()):
            located = find_source(other)
            if located is not None:
                pending.append((other, located))
    return found
