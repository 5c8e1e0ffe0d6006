"""Rows built for PostgreSQL and the column values they are written as.

A :class:`PendingRow` is what ``PostgresFactory._create`` returns: the built fields,
the factory, and what post-generation left for the write (related rows, async hooks).
:class:`RowValues` turns one into column values: a parent row (``customer``) becomes the
parent's stored key in the matching foreign key column (``customer_id``), a value for a
json/jsonb column becomes JSON text, and a field without a column is refused with
``IK-SEED-UNKNOWN-COLUMN`` naming the table's columns.
"""

from __future__ import annotations

import datetime
import decimal
import json
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from integration_kit.errors import ErrorCode, SeedError
from integration_kit.seeding.catalog import Column, ForeignKey, TableInfo
from integration_kit.seeding.validation import invalid

if TYPE_CHECKING:
    from integration_kit.seeding.postgres import PostgresFactory


class PendingRow(dict[str, Any]):
    """A row built for writing; once written it holds the row as stored."""

    __slots__ = ("after", "factory", "stored", "table_oid")

    def __init__(self, factory_class: type[PostgresFactory], values: Mapping[str, Any]) -> None:
        super().__init__(values)
        self.factory = factory_class
        self.after: list[Any] = []
        self.stored = False
        self.table_oid: int | None = None


_PLAIN, _JSON = "plain", "json"


class RowValues:
    """Turns built rows into column values; decides once per field (and parent table) how."""

    def __init__(self, info: TableInfo, factory_class: type) -> None:
        self.info = info
        self.name = factory_class.__name__
        self.plans: dict[tuple[str, int | None, bool], Any] = {}
        # Fields whose scalar values go to their column as they are (no lookup per value).
        self.plain = frozenset(
            name for name, column in info.columns.items() if not column.generated and not column.is_json
        )

    def _plan(self, field: str, value: Any) -> Any:
        column = self.info.columns.get(field)
        if _is_reference(column, value):
            return _foreign_key(self.info, self.name, field, value)
        if column is None:
            return None
        if column.generated:
            raise invalid(
                self.name, field, "a generated column cannot be written", f"table {self.info.display}"
            )
        return _JSON if column.is_json else _PLAIN

    def __call__(self, row: PendingRow) -> dict[str, Any]:
        """The row's column values: parent rows replaced by their keys; unknown fields refused."""
        out: dict[str, Any] = {}
        unknown: list[str] = []
        plans = self.plans
        plain = self.plain
        for field, value in row.items():
            kind = type(value)
            if kind in _SCALARS and field in plain:
                out[field] = value
                continue
            mapping = kind is dict or kind is PendingRow or isinstance(value, Mapping)
            cache_key = (field, getattr(value, "table_oid", None) if mapping else None, mapping)
            plan = plans.get(cache_key, _MISSING)
            if plan is _MISSING:
                plan = plans[cache_key] = self._plan(field, value)
            if plan is _PLAIN:
                out[field] = value
            elif plan is _JSON:
                out[field] = (
                    value
                    if value is None or isinstance(value, str)
                    else json_text(value, owner=self.name, field=field)
                )
            elif plan is None:
                unknown.append(field)
            else:
                self._reference(out, field, plan, value)
        if unknown:
            raise SeedError(
                ErrorCode.SEED_UNKNOWN_COLUMN,
                factory=self.name,
                fields=", ".join(sorted(unknown)),
                table=self.info.display,
                columns=", ".join(self.info.columns),
            )
        return out

    def _reference(self, out: dict[str, Any], field: str, fk: ForeignKey, value: Mapping[str, Any]) -> None:
        for local, ref in zip(fk.columns, fk.ref_columns, strict=True):
            if ref not in value:
                raise SeedError(
                    ErrorCode.SEED_FOREIGN_KEY,
                    factory=self.name,
                    field=field,
                    table=self.info.display,
                    parent=fk.ref_table,
                    cause=f"the parent row has no column {ref!r} (it has {', '.join(value) or 'none'})",
                )
            out[local] = value[ref]


_MISSING = object()
#: Types that are never a parent row nor JSON: written to a plain column as they are.
_SCALARS = frozenset(
    {str, int, float, bool, type(None), bytes, decimal.Decimal, datetime.datetime, datetime.date, uuid.UUID}
)


def json_text(value: Any, *, owner: str, field: str) -> str:
    """``value`` as JSON text for a json/jsonb column (asyncpg sends those as text)."""
    from integration_kit.seeding.kafka import _json_default

    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    except (TypeError, ValueError) as exc:
        raise invalid(owner, field, f"not JSON-encodable ({exc})", "the json/jsonb column") from exc


def _is_reference(column: Column | None, value: Any) -> bool:
    """A parent row (a pending row, or a mapping not meant for a json/jsonb column)."""
    if isinstance(value, PendingRow):
        return True
    return isinstance(value, Mapping) and not (column is not None and column.is_json)


def _foreign_key(info: TableInfo, factory_name: str, field: str, value: Mapping[str, Any]) -> ForeignKey:
    """The foreign key of ``info`` that ``field`` (holding a parent row) stands for."""
    candidates = info.foreign_keys
    by_name = [fk for fk in candidates if fk.columns in ((field,), (f"{field}_id",))]
    if len(by_name) == 1:
        return by_name[0]
    parent_oid = getattr(value, "table_oid", None)
    if parent_oid is not None:
        to_parent = [fk for fk in candidates if fk.ref_oid == parent_oid]
        if len(to_parent) == 1:
            return to_parent[0]
        cause = (
            f"{len(to_parent)} foreign keys refer to it ({', '.join(fk.name for fk in to_parent)})"
            if to_parent
            else "no foreign key refers to it"
        )
        parent = value.factory._meta.table  # type: ignore[attr-defined]
    else:
        cause = f"no foreign key column is named {field!r} or {field + '_id'!r}"
        parent = "a row passed as a value"
    if info.columns.get(field) is None and not candidates:
        raise SeedError(
            ErrorCode.SEED_UNKNOWN_COLUMN,
            factory=factory_name,
            fields=field,
            table=info.display,
            columns=", ".join(info.columns),
        )
    raise SeedError(
        ErrorCode.SEED_FOREIGN_KEY,
        factory=factory_name,
        field=field,
        table=info.display,
        parent=parent,
        cause=cause,
    )
