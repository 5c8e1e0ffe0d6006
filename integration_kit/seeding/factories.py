"""factory_boy factories that persist rows to PostgreSQL through asyncpg.

A :class:`TableFactory` builds plain dicts with factory_boy declarations (Faker,
Sequence, LazyAttribute...) and inserts them with one ``INSERT ... RETURNING *``::

    class CustomerFactory(TableFactory):
        class Meta:
            table = "customers"

        name = factory.Faker("name")
        email = factory.LazyAttribute(lambda o: f"{o.name.split()[0].lower()}@example.test")

    customers = await CustomerFactory.insert(connection, size=10)
    vip = await CustomerFactory.insert_one(connection, name="Ada Lovelace")

Foreign keys are composed explicitly, which keeps scenarios readable::

    await OrderFactory.insert(connection, size=3, customer_id=vip["id"])

``Meta.table`` is validated when the class is defined (a ``UsageError`` otherwise).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import factory
from factory.base import FactoryMetaClass, FactoryOptions, OptionDefault

from integration_kit.errors import ErrorCode, UsageError

_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)?$")


def quote_table(table: str) -> str:
    """``schema.table`` or ``table`` quoted as SQL identifiers."""
    return ".".join(f'"{part}"' for part in table.split("."))


class TableFactoryOptions(FactoryOptions):
    """Adds ``Meta.table`` (the target table) to factory_boy's options."""

    def _build_default_options(self) -> list[OptionDefault]:
        return [*super()._build_default_options(), OptionDefault("table", None, inherit=True)]

    def contribute_to_class(self, factory: type, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(factory, *args, **kwargs)
        table = getattr(self, "table", None)
        if self.abstract:
            return
        if not isinstance(table, str) or not _IDENTIFIER.match(table):
            raise UsageError(
                ErrorCode.USAGE_INVALID_DECLARATION,
                attribute="Meta.table",
                value=table,
                owner=factory.__name__,
                expected="a table name such as 'orders' or 'shop.orders'",
            )


class TableFactory(factory.Factory, metaclass=FactoryMetaClass):
    """Builds dicts for ``Meta.table`` and inserts them with asyncpg."""

    _options_class = TableFactoryOptions

    class Meta:
        model = dict
        abstract = True

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> dict[str, Any]:
        raise UsageError(
            ErrorCode.USAGE_INVALID_DECLARATION,
            attribute="strategy",
            value="create",
            owner=cls.__name__,
            expected=f"await {cls.__name__}.insert(connection) (rows are written through asyncpg)",
        )

    @classmethod
    async def insert(cls, connection: Any, *, size: int = 1, **overrides: Any) -> list[dict[str, Any]]:
        """Build ``size`` rows with ``overrides`` and insert them; return the stored rows."""
        if size < 1:
            return []
        rows: Sequence[dict[str, Any]] = cls.build_batch(size, **overrides)
        columns = list(rows[0])
        column_list = ", ".join(f'"{column}"' for column in columns)
        values = []
        arguments: list[Any] = []
        for row in rows:
            placeholders = []
            for column in columns:
                arguments.append(row[column])
                placeholders.append(f"${len(arguments)}")
            values.append("(" + ", ".join(placeholders) + ")")
        query = (
            f"INSERT INTO {quote_table(cls._meta.table)} ({column_list}) "  # type: ignore[attr-defined]
            f"VALUES {', '.join(values)} RETURNING *"
        )
        records = await connection.fetch(query, *arguments)
        return [dict(record) for record in records]

    @classmethod
    async def insert_one(cls, connection: Any, **overrides: Any) -> dict[str, Any]:
        """Insert one row; return it as stored (defaults and generated keys included)."""
        (row,) = await cls.insert(connection, size=1, **overrides)
        return row
