"""A registry of contracts (every version of each) and consumer expectations.

A contracts directory holds ``*.json`` files (one definition or a list of them) and
``*.py`` files (a module-level ``CONTRACTS`` list of dicts or contract objects). Each
definition has a ``kind``: ``message`` (the default), ``http`` or ``consumer``::

    registry = load_contracts("contracts/")
    contract = registry.get("order-created")            # the latest version
    registry.get("order-created", "1.0.0")              # an exact one
    registry.expectations_for("order-created")          # what consumers read
"""

from __future__ import annotations

import importlib.util
import json
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from integration_kit.contracts.consumers import ConsumerExpectation
from integration_kit.contracts.http import HttpContract
from integration_kit.contracts.message import MessageContract
from integration_kit.contracts.schema import Version
from integration_kit.errors import ContractDefinitionError, ErrorCode

Contract = MessageContract | HttpContract
Definition = Contract | ConsumerExpectation


class ContractRegistry:
    """Holds every version of each contract, and the consumers' expectations.

    An instance is plain data: build one per test session or per test (no global state).
    """

    def __init__(self, definitions: Iterable[Definition] = ()) -> None:
        self._contracts: dict[str, dict[Version, Contract]] = {}
        self._expectations: list[ConsumerExpectation] = []
        for definition in definitions:
            self.add(definition)

    def add(self, definition: Definition) -> Definition:
        """Register a contract version or an expectation; ``IK-CONTRACT-DUPLICATE`` on a repeat."""
        if isinstance(definition, ConsumerExpectation):
            self._expectations.append(definition)
            return definition
        if not isinstance(definition, (MessageContract, HttpContract)):
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=repr(definition)[:80],
                cause="expected a MessageContract, HttpContract or ConsumerExpectation",
            )
        versions = self._contracts.setdefault(definition.name, {})
        version = definition.semver
        if version in versions:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_DUPLICATE,
                name=definition.name,
                version=definition.version,
                sources=f"{versions[version].source} and {definition.source}",
            )
        kinds = {type(c) for c in versions.values()}
        if kinds and type(definition) not in kinds:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID,
                source=definition.source,
                cause=f"{definition.name!r} is already a {next(iter(kinds)).__name__}; one kind per name",
            )
        versions[version] = definition
        return definition

    def names(self) -> list[str]:
        """Contract names, sorted."""
        return sorted(self._contracts)

    def versions(self, name: str) -> list[Contract]:
        """Every version of ``name``, oldest first (semver order)."""
        versions = self._contracts.get(name)
        if not versions:
            raise self._not_found(name, "any")
        return [versions[v] for v in sorted(versions)]

    def get(self, name: str, version: str | None = None) -> Contract:
        """Version ``version`` of ``name`` (the latest when None); ``IK-CONTRACT-NOT-FOUND``."""
        versions = self.versions(name)
        if version is None:
            return versions[-1]
        wanted = Version.parse(version)
        for contract in versions:
            if contract.semver == wanted:
                return contract
        raise self._not_found(name, version)

    def message(self, name: str, version: str | None = None) -> MessageContract:
        """Like :meth:`get`, for a message contract."""
        contract = self.get(name, version)
        if not isinstance(contract, MessageContract):
            raise self._not_found(name, f"{version or 'latest'}, as a message contract")
        return contract

    def http(self, name: str, version: str | None = None) -> HttpContract:
        """Like :meth:`get`, for an HTTP contract."""
        contract = self.get(name, version)
        if not isinstance(contract, HttpContract):
            raise self._not_found(name, f"{version or 'latest'}, as an HTTP contract")
        return contract

    def latest(self) -> list[Contract]:
        """The latest version of every contract."""
        return [self.get(name) for name in self.names()]

    @property
    def expectations(self) -> list[ConsumerExpectation]:
        return list(self._expectations)

    def expectations_for(self, name: str) -> list[ConsumerExpectation]:
        """The consumers' expectations of contract ``name``."""
        return [e for e in self._expectations if e.contract == name]

    def for_topic(self, topic: str) -> list[MessageContract]:
        """Latest message contracts on ``topic`` (a worker-prefixed name matches too)."""
        found = []
        for contract in self.latest():
            if (
                isinstance(contract, MessageContract)
                and contract.topic is not None
                and (topic == contract.topic or topic.endswith("." + contract.topic))
            ):
                found.append(contract)
        return found

    def __iter__(self) -> Iterator[Contract]:
        for name in self.names():
            yield from self.versions(name)

    def __len__(self) -> int:
        return sum(len(v) for v in self._contracts.values())

    def _not_found(self, name: str, version: str) -> ContractDefinitionError:
        known = ", ".join(
            f"{n} ({', '.join(str(v) for v in sorted(vs))})" for n, vs in sorted(self._contracts.items())
        )
        return ContractDefinitionError(
            ErrorCode.CONTRACT_NOT_FOUND, name=name, version=version, known=known or "none"
        )


def definition_from_dict(data: Any, *, source: str = "<dict>") -> Definition:
    """A contract or expectation from its JSON form, by its ``kind``."""
    if not isinstance(data, Mapping):
        raise ContractDefinitionError(ErrorCode.CONTRACT_INVALID, source=source, cause="expected an object")
    kind = data.get("kind", "message")
    if kind == "message":
        return MessageContract.from_dict(data, source=source)
    if kind == "http":
        return HttpContract.from_dict(data, source=source)
    if kind == "consumer":
        return ConsumerExpectation.from_dict(data, source=source)
    raise ContractDefinitionError(
        ErrorCode.CONTRACT_INVALID,
        source=source,
        cause=f"unknown kind {kind!r}; use message, http or consumer",
    )


def load_file(path: str | Path) -> list[Definition]:
    """The definitions in one ``.json`` or ``.py`` file."""
    path = Path(path)
    if path.suffix == ".json":
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=str(path), cause=str(exc)
            ) from exc
        items = data if isinstance(data, list) else [data]
    elif path.suffix == ".py":
        items = _python_definitions(path)
    else:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=str(path), cause="contract files are .json or .py"
        )
    loaded: list[Definition] = []
    for index, item in enumerate(items):
        source = str(path) if len(items) == 1 else f"{path}[{index}]"
        if isinstance(item, (MessageContract, HttpContract, ConsumerExpectation)):
            loaded.append(item)
        else:
            loaded.append(definition_from_dict(item, source=source))
    return loaded


def _python_definitions(path: Path) -> list[Any]:
    name = f"_ik_contracts_{abs(hash(str(path.resolve())))}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ContractDefinitionError(ErrorCode.CONTRACT_INVALID, source=str(path), cause="cannot import")
    module = importlib.util.module_from_spec(spec)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=str(path), cause=f"importing it raised {exc!r}"
        ) from exc
    finally:
        sys.modules.pop(name, None)
    items = getattr(module, "CONTRACTS", None)
    if not isinstance(items, (list, tuple)):
        raise ContractDefinitionError(
            ErrorCode.CONTRACT_INVALID, source=str(path), cause="a .py contract file defines a CONTRACTS list"
        )
    return list(items)


def load_contracts(*paths: str | Path) -> ContractRegistry:
    """A registry of every definition in the given directories (recursively) or files.

    Files and directories whose names start with ``_`` or ``.`` are skipped.
    """
    registry = ContractRegistry()
    for root in paths:
        root = Path(root)
        if not root.exists():
            raise ContractDefinitionError(
                ErrorCode.CONTRACT_INVALID, source=str(root), cause="no such file or directory"
            )
        files = (
            [root]
            if root.is_file()
            else sorted(
                p
                for p in root.rglob("*")
                if p.suffix in (".json", ".py")
                and p.is_file()
                and not any(part.startswith(("_", ".")) for part in p.relative_to(root).parts)
            )
        )
        for file in files:
            for definition in load_file(file):
                registry.add(definition)
    return registry
