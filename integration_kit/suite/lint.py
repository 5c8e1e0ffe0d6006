"""``integration-kit lint-tests``: the layout, markers, references and assertions of a test tree.

The linter reads the files (``ast``); it imports nothing of the tests. Rules:

=========  ======================  =====================================================
code       name                    finds
=========  ======================  =====================================================
IKT001     misplaced-test          a test module outside ``unit/``, ``integration/``,
                                   ``e2e/``, ``contract/`` (and the ``lint_folders``)
IKT002     marker-folder           a ``unit``/``integration``/``e2e`` marker that is not
                                   its folder's (an integration test in ``unit/``)
IKT003     unit-uses-service       a test in ``unit/`` that uses a service fixture
                                   (``ik_postgres``, ...) or a service test case class
IKT004     duplicate-basename      test modules with the same file name
IKT005     stale-import            an import of a project module, or of a name from
                                   one, that does not exist (not installed third-party
                                   packages are not stale references)
IKT006     unknown-fixture         a test or fixture that requests a fixture nobody
                                   defines (conftests, the module, installed plugins)
IKT007     unused-fixture          a conftest fixture no test or fixture below it uses
IKT008     assert-awaitable        ``assert`` on a coroutine call that was not awaited
IKT009     assert-tuple            ``assert (x, "message")``: always true
IKT010     sleep-in-test           ``time.sleep``/``asyncio.sleep`` in a test
IKT011     error-message-match     ``pytest.raises(<kit error>, match=...)`` or an assert
                                   on ``str(excinfo.value)``: match the code with
                                   ``raises_code`` instead
=========  ======================  =====================================================

A finding is silenced by ``# ik-lint: ignore[<name or code>] <why>`` on its line.
"""

from __future__ import annotations

import ast
import importlib.metadata
import importlib.util
import json
import re
import sys
import warnings
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from integration_kit.errors import ErrorCode, SuiteError

DEFAULT_FOLDERS = {"unit": "unit", "integration": "integration", "e2e": "e2e", "contract": "contract"}
TIERS = ("unit", "integration", "e2e")
SERVICE_FIXTURES = frozenset({"ik_session", "ik_postgres", "ik_redis", "ik_kafka"})
SERVICE_CASES = frozenset({"ServiceTestCase", "KafkaTestCase", "PostgresTestCase", "RedisTestCase"})
KIT_COROUTINES = frozenset({"eventually", "wait_until"})
SKIPPED_DIRS = frozenset({"__pycache__", "node_modules"})
_IGNORE = re.compile(r"#\s*ik-lint:\s*ignore\[([\w,\s-]+)\]")


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    hint: str


RULES = {
    rule.name: rule
    for rule in (
        Rule("IKT001", "misplaced-test", "move it under unit/, integration/, e2e/ or contract/"),
        Rule("IKT002", "marker-folder", "move the test to the folder of its marker, or fix the marker"),
        Rule("IKT003", "unit-uses-service", "unit tests use mocks; move it to integration/"),
        Rule("IKT004", "duplicate-basename", "rename one: pytest cannot import two modules of one name"),
        Rule("IKT005", "stale-import", "fix the import after the move or rename"),
        Rule("IKT006", "unknown-fixture", "define the fixture, or fix the name after the rename"),
        Rule("IKT007", "unused-fixture", "delete it, or use it"),
        Rule("IKT008", "assert-awaitable", "await the call: a coroutine object is always true"),
        Rule("IKT009", "assert-tuple", "write assert x, 'message' without the parentheses"),
        Rule("IKT010", "sleep-in-test", "wait for the condition with eventually() / wait_until()"),
        Rule("IKT011", "error-message-match", "assert the stable code: with raises_code(ErrorCode.X)"),
    )
}
_BY_CODE = {rule.code: rule for rule in RULES.values()}


@dataclass(frozen=True, kw_only=True)
class Finding:
    """One rule broken at one place."""

    rule: str
    path: Path
    line: int
    message: str

    @property
    def code(self) -> str:
        return RULES[self.rule].code

    @property
    def hint(self) -> str:
        return RULES[self.rule].hint

    def relative(self, root: Path) -> str:
        try:
            return self.path.relative_to(root).as_posix()
        except ValueError:
            return self.path.as_posix()

    def text(self, root: Path) -> str:
        """``path:line: CODE name: message (hint)``, the path relative to ``root``."""
        return f"{self.relative(root)}:{self.line}: {self.code} {self.rule}: {self.message} ({self.hint})"

    def to_dict(self, root: Path) -> dict[str, Any]:
        return {
            "code": self.code,
            "rule": self.rule,
            "path": self.relative(root),
            "line": self.line,
            "message": self.message,
            "hint": self.hint,
        }


# --------------------------------------------------------------------------- parsing


@dataclass
class _Module:
    path: Path
    tree: ast.Module
    lines: list[str]
    is_conftest: bool
    fixtures: dict[str, tuple[int, bool]] = field(default_factory=dict)  # name -> (line, autouse)
    plugin_modules: list[str] = field(default_factory=list)
    #: module-level ``name = call(...)`` (parametrize aliases) and ``pytestmark`` items
    aliases: dict[str, Any] = field(default_factory=dict)

    def ignored(self, line: int, rule: str) -> bool:
        if not 0 < line <= len(self.lines):
            return False
        match = _IGNORE.search(self.lines[line - 1])
        if match is None:
            return False
        names = {n.strip() for n in match.group(1).split(",")}
        return rule in names or RULES[rule].code in names


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value)}.{node.attr}"
    if isinstance(node, ast.Call):
        return _dotted(node.func)
    return ""


def _fixture_decorator(node: ast.AST) -> tuple[bool, str | None, bool] | None:
    """``(is fixture, name=..., autouse)`` of a decorator."""
    name = _dotted(node)
    if name.split(".")[-1] not in {"fixture", "yield_fixture"}:
        return None
    alias, autouse = None, False
    if isinstance(node, ast.Call):
        for keyword in node.keywords:
            if keyword.arg == "name" and isinstance(keyword.value, ast.Constant):
                alias = str(keyword.value.value)
            if keyword.arg == "autouse" and isinstance(keyword.value, ast.Constant):
                autouse = bool(keyword.value.value)
    return True, alias, autouse


def _functions(
    tree: ast.Module,
) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef | None]]:
    """Module-level functions and the methods of (nested) classes, with their class."""

    def methods(cls: ast.ClassDef) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef, ast.ClassDef]]:
        for child in cls.body:
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                yield child, cls
            elif isinstance(child, ast.ClassDef):
                yield from methods(child)

    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            yield node, None
        elif isinstance(node, ast.ClassDef):
            yield from methods(node)


def _fixture_info(func: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, bool] | None:
    for decorator in func.decorator_list:
        found = _fixture_decorator(decorator)
        if found is not None:
            return found[1] or func.name, found[2]
    return None


_DEFINES_FIXTURE = re.compile(
    r"^\s*@\s*(?:\w+\.)*(?:fixture|yield_fixture)\b|pytest_plugins|=\s*\w[\w.]*\(", re.M
)


def _parse(path: Path, *, fixtures_only: bool = False) -> _Module | None:
    """The parsed module (cached while the file's size and mtime stay the same)."""
    try:
        info = path.stat()
    except OSError:
        return None
    return _parse_file(path, info.st_mtime_ns, info.st_size, fixtures_only)


@cache
def _parse_file(path: Path, _mtime: int, _size: int, fixtures_only: bool) -> _Module | None:
    try:
        text = path.read_text(encoding="utf-8")
        if fixtures_only and not _DEFINES_FIXTURE.search(text):
            return _Module(path=path, tree=ast.Module(body=[], type_ignores=[]), lines=[], is_conftest=False)
        with warnings.catch_warnings():  # "assertion is always true" is ours to report
            warnings.simplefilter("ignore", SyntaxWarning)
            tree = ast.parse(text, filename=str(path))
    except (OSError, SyntaxError, ValueError):
        return None
    module = _Module(path=path, tree=tree, lines=text.splitlines(), is_conftest=path.name == "conftest.py")
    for func, _cls in _functions(tree):
        info = _fixture_info(func)
        if info is not None:
            module.fixtures.setdefault(info[0], (func.lineno, info[1]))
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = [t.id for t in node.targets if isinstance(t, ast.Name)]
            if "pytest_plugins" in targets:
                value = node.value
                items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
                module.plugin_modules.extend(
                    str(i.value) for i in items if isinstance(i, ast.Constant) and isinstance(i.value, str)
                )
            elif "pytestmark" in targets:
                value = node.value
                module.aliases["pytestmark"] = (
                    list(value.elts) if isinstance(value, ast.List | ast.Tuple) else [value]
                )
            elif isinstance(node.value, ast.Call):  # e.g. x = factories.postgresql("proc"): maybe a fixture
                for target in targets:
                    module.fixtures.setdefault(target, (node.lineno, False))
                    module.aliases[target] = node.value
    return module


def _module_source(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError, AttributeError):
        return None
    if spec is None or not spec.origin or not spec.origin.endswith(".py"):
        return None
    return Path(spec.origin)


@cache
def _plugin_fixtures_of(name: str) -> frozenset[str]:
    """Fixture names defined by the plugin module ``name`` and the plugins it lists."""
    source = _module_source(name)
    if source is None:
        return frozenset()
    module = _parse(source, fixtures_only=True)
    if module is None:
        return frozenset()
    names = set(module.fixtures)
    for child in module.plugin_modules:
        names |= _plugin_fixtures_of(child)
    return frozenset(names)


@cache
def installed_fixtures() -> frozenset[str]:
    """Fixtures of pytest itself and of every installed pytest plugin (entry point pytest11)."""
    names: set[str] = {"request"}
    spec = importlib.util.find_spec("_pytest")
    for location in (spec.submodule_search_locations or []) if spec else []:
        for path in Path(location).rglob("*.py"):
            module = _parse(path, fixtures_only=True)
            if module is not None:
                names.update(module.fixtures)
    for entry in importlib.metadata.entry_points(group="pytest11"):
        names |= _plugin_fixtures_of(entry.value.split(":", 1)[0])
    return frozenset(names)


def _is_local(name: str, search: Sequence[Path]) -> bool:
    """Whether the top-level package of ``name`` is the project's (found under ``search``):
    only then is a missing module a stale reference rather than a package not installed."""
    top = name.split(".", 1)[0]
    return any((base / top).is_dir() or (base / f"{top}.py").is_file() for base in search)


@cache
def kit_error_names() -> frozenset[str]:
    """Names of the kit's exception classes (``IntegrationKitError`` and its subclasses)."""
    from integration_kit import errors

    return frozenset(
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.IntegrationKitError)
    )


# --------------------------------------------------------------------------- module resolution


def _module_exists(name: str, search: Sequence[Path]) -> Path | bool:
    """The file (or directory) of module ``name`` under ``search`` (then ``sys.path``);
    ``True`` for a module that exists without a file to read, ``False`` if none."""
    top = name.split(".", 1)[0]
    if top in sys.builtin_module_names or top in sys.stdlib_module_names:
        return True
    parts = name.split(".")
    for base in [*search, *(Path(p) for p in sys.path if p)]:
        candidate = base.joinpath(*parts)
        if (candidate / "__init__.py").is_file():
            return candidate / "__init__.py"
        if candidate.with_suffix(".py").is_file():
            return candidate.with_suffix(".py")
        if candidate.is_dir():
            return candidate  # a namespace package
        if any(candidate.parent.glob(candidate.name + ".*.so")) or any(
            candidate.parent.glob(candidate.name + ".pyd")
        ):
            return True
    try:
        return importlib.util.find_spec(top) is not None and len(parts) == 1
    except (ImportError, ValueError):
        return False


def _top_level_names(path: Path) -> tuple[frozenset[str], bool]:
    """``(names a module defines, whether it defines __getattr__)``."""
    module = _parse(path)
    if module is None:
        return frozenset(), True
    names: set[str] = set()
    dynamic = False

    def statements(body: Sequence[ast.stmt]) -> Iterator[ast.stmt]:
        for node in body:
            yield node
            if isinstance(node, ast.If | ast.Try | ast.With):
                for block in ("body", "orelse", "finalbody", "handlers"):
                    for child in getattr(node, block, []):
                        yield from statements(child.body if isinstance(child, ast.ExceptHandler) else [child])

    for node in statements(module.tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign | ast.AugAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        names.add(leaf.id)
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    dynamic = True
                names.add((alias.asname or alias.name).split(".")[0])
    if "__getattr__" in names:
        dynamic = True
    return frozenset(names), dynamic


def _package_of(path: Path) -> list[str]:
    """The dotted package of a module file (its directories up to the first without __init__)."""
    parts: list[str] = []
    directory = path.parent
    while (directory / "__init__.py").is_file():
        parts.insert(0, directory.name)
        directory = directory.parent
    return parts


# --------------------------------------------------------------------------- the linter


def _markers(decorators: Iterable[ast.AST]) -> set[str]:
    found = set()
    for node in decorators:
        name = _dotted(node)
        if ".mark." in f".{name}":
            found.add(name.rsplit(".", 1)[-1])
    return found


def _pytestmark(body: Sequence[ast.stmt]) -> set[str]:
    found: set[str] = set()
    for node in body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "pytestmark" for t in node.targets
        ):
            value = node.value
            items = value.elts if isinstance(value, ast.List | ast.Tuple) else [value]
            found |= _markers(items)
    return found


def _parametrized(
    func: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None, aliases: dict[str, ast.AST]
) -> set[str]:
    names: set[str] = set()
    marks: list[ast.AST] = [*func.decorator_list, *(cls.decorator_list if cls else [])]
    marks += aliases.get("pytestmark", [])  # type: ignore[arg-type]
    for decorator in marks:
        if isinstance(decorator, ast.Name) and decorator.id in aliases:
            decorator = aliases[decorator.id]
        if isinstance(decorator, ast.Call) and _dotted(decorator).endswith("parametrize") and decorator.args:
            first = decorator.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                names.update(n.strip() for n in first.value.split(",") if n.strip())
            elif isinstance(first, ast.List | ast.Tuple):
                names.update(str(e.value) for e in first.elts if isinstance(e, ast.Constant))
    return names


def _requested(
    func: ast.FunctionDef | ast.AsyncFunctionDef,
    cls: ast.ClassDef | None,
    aliases: dict[str, Any] | None = None,
) -> list[str]:
    args = func.args
    positional = [*args.posonlyargs, *args.args]
    with_default = (
        {a.arg for a in positional[len(positional) - len(args.defaults) :]} if args.defaults else set()
    )
    names = [a.arg for a in [*positional, *args.kwonlyargs] if a.arg not in with_default]
    kw_defaults = {a.arg for a, d in zip(args.kwonlyargs, args.kw_defaults, strict=True) if d is not None}
    if cls is not None and names and names[0] in {"self", "cls"}:
        names = names[1:]
    skip = _parametrized(func, cls, aliases or {}) | kw_defaults | _given(func, [a.arg for a in positional])
    return [n for n in names if n not in skip]


def _given(func: ast.FunctionDef | ast.AsyncFunctionDef, positional: list[str]) -> set[str]:
    """Arguments Hypothesis supplies: ``@given(a=...)`` by name, ``@given(st1, st2)`` the last ones."""
    for decorator in func.decorator_list:
        if isinstance(decorator, ast.Call) and _dotted(decorator).split(".")[-1] == "given":
            by_name = {k.arg for k in decorator.keywords if k.arg}
            rest = [name for name in positional if name not in by_name]
            count = len(decorator.args)
            return by_name | (set(rest[-count:]) if count else set())
    return set()


def _is_test(func: ast.FunctionDef | ast.AsyncFunctionDef, cls: ast.ClassDef | None) -> bool:
    return func.name.startswith("test") and (cls is None or cls.name.startswith("Test"))


def _is_test_module(path: Path) -> bool:
    return path.suffix == ".py" and (path.name.startswith("test_") or path.name.endswith("_test.py"))


def _walk(root: Path) -> Iterator[Path]:
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root).parts
        if any(part.startswith(".") or part in SKIPPED_DIRS for part in rel[:-1]):
            continue
        yield path


def _kit_error_names_caught(func: ast.AST, kit_errors: frozenset[str]) -> set[str]:
    """Names bound by ``with pytest.raises(<kit error>) as name`` (``name.value`` is the error)."""
    names = set()
    for node in ast.walk(func):
        if isinstance(node, ast.With | ast.AsyncWith):
            for item in node.items:
                call = item.context_expr
                if (
                    isinstance(call, ast.Call)
                    and _dotted(call.func).endswith("raises")
                    and call.args
                    and _dotted(call.args[0]).rsplit(".", 1)[-1] in kit_errors
                    and isinstance(item.optional_vars, ast.Name)
                ):
                    names.add(item.optional_vars.id)
    return names


def _message_of(test: ast.AST, caught: set[str]) -> str | None:
    """The ``excinfo`` whose message ``test`` compares exactly (``str(excinfo.value) == ...``,
    ``"..." in str(excinfo.value)``, ``excinfo.value.message == ...``), else ``None``."""
    if not caught or not isinstance(test, ast.Compare):
        return None
    for side in (test.left, *test.comparators):
        if isinstance(side, ast.Call) and _dotted(side.func) == "str" and side.args:
            side = side.args[0]
        name = _dotted(side)
        root, _, rest = name.partition(".")
        if root in caught and rest in {"value", "value.message", "value.args"}:
            return root
    return None


class _Linter:
    def __init__(self, root: Path, project_root: Path, folders: dict[str, str]) -> None:
        self.root = root
        self.project_root = project_root
        self.folders = folders
        self.findings: list[Finding] = []
        self.modules: dict[Path, _Module] = {}
        for path in _walk(root):
            if _is_test_module(path) or path.name == "conftest.py":
                module = _parse(path)
                if module is not None:
                    self.modules[path] = module
        self.conftests = {m.path.parent: m for m in self.modules.values() if m.is_conftest}
        for directory in [project_root, *root.parents]:  # conftests above the linted tree apply too
            if directory.is_relative_to(project_root) and (directory / "conftest.py").is_file():
                module = _parse(directory / "conftest.py")
                if module is not None:
                    self.conftests.setdefault(directory, module)

    def report(self, module: _Module, rule: str, line: int, message: str) -> None:
        if not module.ignored(line, rule):
            self.findings.append(Finding(rule=rule, path=module.path, line=line, message=message))

    def category(self, path: Path) -> str | None:
        """The category of the first conventional folder on the module's path (below the
        project root, so linting ``tests/unit`` alone knows it is ``unit``)."""
        base = self.project_root if path.is_relative_to(self.project_root) else self.root
        for part in path.relative_to(base).parts[:-1]:
            if part in self.folders:
                return self.folders[part]
        return None

    def visible_fixtures(self, module: _Module) -> set[str]:
        names = set(installed_fixtures()) | set(module.fixtures)
        for plugin in module.plugin_modules:
            names |= _plugin_fixtures_of(plugin)
        for directory in [module.path.parent, *module.path.parent.parents]:
            conftest = self.conftests.get(directory)
            if conftest is not None:
                names |= set(conftest.fixtures)
                for plugin in conftest.plugin_modules:
                    names |= _plugin_fixtures_of(plugin)
            if directory == self.project_root:
                break
        return names

    def dynamic_fixtures(self, module: _Module) -> bool:
        """Whether a ``pytest_generate_tests`` hook may provide arguments to this module."""
        holders = [module] + [
            c for d, c in self.conftests.items() if module.path.is_relative_to(d) and d != module.path.parent
        ]
        if module.path.parent in self.conftests:
            holders.append(self.conftests[module.path.parent])
        return any(
            isinstance(n, ast.FunctionDef) and n.name == "pytest_generate_tests"
            for h in holders
            for n in h.tree.body
        )

    # --- rules ---
    def layout(self) -> None:
        by_name: dict[str, list[_Module]] = {}
        for module in self.modules.values():
            if module.is_conftest:
                continue
            by_name.setdefault(module.path.name, []).append(module)
            if self.category(module.path) is None:
                base = self.project_root if module.path.is_relative_to(self.project_root) else self.root
                rel = module.path.relative_to(base).as_posix()
                self.report(
                    module,
                    "misplaced-test",
                    1,
                    f"{rel} is not under " + ", ".join(f"{f}/" for f in self.folders),
                )
        for name, modules in sorted(by_name.items()):
            if len(modules) > 1:
                places = ", ".join(m.path.relative_to(self.root).as_posix() for m in modules)
                for module in modules:
                    self.report(
                        module, "duplicate-basename", 1, f"{len(modules)} test modules named {name}: {places}"
                    )

    def markers_and_services(self, module: _Module) -> None:
        category = self.category(module.path)
        if category not in TIERS:
            return
        module_marks = _pytestmark(module.tree.body)
        for func, cls in _functions(module.tree):
            if not _is_test(func, cls):
                continue
            marks = module_marks | _markers(func.decorator_list)
            if cls is not None:
                marks |= _markers(cls.decorator_list) | _pytestmark(cls.body)
            wrong = sorted((marks & set(TIERS)) - {category})
            if wrong:
                self.report(
                    module, "marker-folder", func.lineno,
                    f"{func.name} is marked {', '.join(wrong)} but is in {category}/",
                )  # fmt: skip
            if category == "unit":
                services = sorted(set(_requested(func, cls, module.aliases)) & SERVICE_FIXTURES)
                bases = (
                    sorted({_dotted(b).rsplit(".", 1)[-1] for b in cls.bases} & SERVICE_CASES) if cls else []
                )
                if services or bases:
                    what = ", ".join([*services, *bases])
                    self.report(module, "unit-uses-service", func.lineno, f"{func.name} in unit/ uses {what}")

    def imports(self, module: _Module) -> None:
        package = _package_of(module.path)
        search = [
            module.path.parent,
            *[p for p in module.path.parents if p.is_relative_to(self.project_root)],
        ]
        for node in ast.walk(module.tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if not _module_exists(alias.name, search) and _is_local(alias.name, search):
                        self.report(
                            module, "stale-import", node.lineno, f"module {alias.name} does not exist"
                        )
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - node.level + 1] if node.level <= len(package) else None
                    if base is None:
                        continue
                    target = ".".join([*base, *([node.module] if node.module else [])])
                    roots = [module.path.parents[len(package)]] if package else [module.path.parent]
                else:
                    target, roots = node.module or "", search
                found = _module_exists(target, roots) if target else True
                if not found and (node.level or _is_local(target, roots)):
                    self.report(module, "stale-import", node.lineno, f"module {target} does not exist")
                    continue
                if not found:
                    continue  # an installed package that is missing here: not a stale reference
                if not isinstance(found, Path) or not found.is_file():
                    continue
                if not found.is_relative_to(self.project_root):
                    continue  # installed packages: only the module is checked
                names, dynamic = _top_level_names(found)
                if dynamic:
                    continue
                for alias in node.names:
                    if alias.name == "*" or alias.name in names:
                        continue
                    if _module_exists(f"{target}.{alias.name}", roots):
                        continue
                    self.report(module, "stale-import", node.lineno, f"{target} has no {alias.name}")

    def fixtures(self, module: _Module) -> None:
        visible = self.visible_fixtures(module)
        if self.dynamic_fixtures(module):
            return
        for func, cls in _functions(module.tree):
            is_fixture = _fixture_info(func) is not None
            if not (is_fixture or _is_test(func, cls)):
                continue
            for name in _requested(func, cls, module.aliases):
                if name not in visible:
                    kind = "fixture" if is_fixture else "test"
                    self.report(
                        module,
                        "unknown-fixture",
                        func.lineno,
                        f"{kind} {func.name} requests unknown fixture {name!r}",
                    )

    def unused_fixtures(self) -> None:
        used_below: dict[Path, set[str]] = {}
        for module in self.modules.values():
            words: set[str] = set()
            for func, cls in _functions(module.tree):
                words.update(_requested(func, cls, module.aliases))
            for node in ast.walk(module.tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str):
                    words.update(w.strip() for w in node.value.split(","))
            used_below[module.path] = words
        for directory, conftest in self.conftests.items():
            if not directory.is_relative_to(self.root):
                continue
            used = set().union(*(w for p, w in used_below.items() if p.is_relative_to(directory)))
            for name, (line, autouse) in sorted(conftest.fixtures.items()):
                if autouse or name in used:
                    continue
                if not any(
                    isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef) and n.lineno == line
                    for n in conftest.tree.body
                ):
                    continue  # an assignment that may or may not be a fixture
                self.report(
                    conftest, "unused-fixture", line, f"fixture {name!r} is used by no test or fixture here"
                )

    def assertions(self, module: _Module) -> None:
        async_names = {
            node.name for node in ast.walk(module.tree) if isinstance(node, ast.AsyncFunctionDef)
        } | KIT_COROUTINES
        kit_errors = kit_error_names()
        for func, cls in _functions(module.tree):
            in_test = _is_test(func, cls)
            caught = _kit_error_names_caught(func, kit_errors)
            for node in ast.walk(func):
                if isinstance(node, ast.Assert):
                    test = node.test
                    text_of = _message_of(test, caught)
                    if text_of is not None:
                        self.report(
                            module, "error-message-match", node.lineno,
                            f"assert on the message of {text_of}, a kit error",
                        )  # fmt: skip
                    if isinstance(test, ast.Tuple) and test.elts:
                        self.report(
                            module, "assert-tuple", node.lineno, "assert on a non-empty tuple is always true"
                        )
                    call = (
                        test.operand
                        if isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not)
                        else test
                    )
                    if isinstance(call, ast.Call):
                        name = _dotted(call.func).rsplit(".", 1)[-1]
                        if name in async_names or _dotted(call.func) == "asyncio.sleep":
                            self.report(
                                module, "assert-awaitable", node.lineno,
                                f"assert on {name}(...), a coroutine that is not awaited",
                            )  # fmt: skip
                elif isinstance(node, ast.Call) and in_test:
                    name = _dotted(node.func)
                    if name in {"time.sleep", "asyncio.sleep", "sleep", "gevent.sleep", "trio.sleep"}:
                        seconds = node.args[0] if node.args else None
                        if isinstance(seconds, ast.Constant) and not seconds.value:
                            continue  # sleep(0): a yield to the event loop, not a wait
                        self.report(module, "sleep-in-test", node.lineno, f"{name}() in test {func.name}")
                    if name.endswith("raises") and node.args and any(k.arg == "match" for k in node.keywords):
                        error = _dotted(node.args[0]).rsplit(".", 1)[-1]
                        if error in kit_errors:
                            self.report(
                                module, "error-message-match", node.lineno,
                                f"pytest.raises({error}, match=...) matches the message of a kit error",
                            )  # fmt: skip

    def run(self) -> list[Finding]:
        self.layout()
        for module in self.modules.values():
            if not module.is_conftest:
                self.markers_and_services(module)
                self.assertions(module)
            self.imports(module)
            self.fixtures(module)
        self.unused_fixtures()
        return sorted(self.findings, key=lambda f: (f.path, f.line, f.code))


def lint_tests(
    root: Path,
    *,
    project_root: Path | None = None,
    folders: dict[str, str] | None = None,
    select: Iterable[str] | None = None,
) -> list[Finding]:
    """The findings of every rule (or the rules ``select``, by name or code) in the test
    tree ``root``. ``folders`` adds folders to the conventional four (``{"fidelity":
    "integration"}``); ``project_root`` (default: ``root``'s parent) bounds conftest and
    import lookups."""
    root = root.resolve()
    if not root.is_dir():
        raise SuiteError(ErrorCode.SUITE_LINT_PATH, path=root, cause="not a directory")
    project = (project_root or root.parent).resolve()
    linter = _Linter(root, project, {**DEFAULT_FOLDERS, **(folders or {})})
    findings = linter.run()
    if select is not None:
        wanted = set(select)
        findings = [f for f in findings if f.rule in wanted or f.code in wanted]
    return findings


def findings_json(findings: Sequence[Finding], root: Path) -> str:
    counts: dict[str, int] = {}
    for finding in findings:
        counts[finding.rule] = counts.get(finding.rule, 0) + 1
    return json.dumps(
        {"findings": [f.to_dict(root) for f in findings], "counts": counts, "total": len(findings)},
        indent=2,
        sort_keys=True,
    )


def rule_by_code(code: str) -> Rule | None:
    return _BY_CODE.get(code)
