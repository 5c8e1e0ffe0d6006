"""What the kit's factories share: Meta options, per-context sequences, validation.

Each factory class of the kit (``PostgresFactory``, ``KafkaMessageFactory``,
``RedisFactory``, ``SeedFactory`` for plain records) uses a :class:`SeedOptions`
subclass as its ``_options_class``, factory_boy's documented way to add ``Meta``
options: unknown options are refused when the class is defined, as factory_boy does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from integration_kit.declarations import invalid_declaration
from integration_kit.dependencies import require
from integration_kit.errors import UsageError
from integration_kit.seeding import context
from integration_kit.seeding.validation import Check, compile_validator

require("factory-boy", feature="seeding (integration_kit.seeding)")
require("Faker", feature="seeding (integration_kit.seeding)")

import factory  # noqa: E402
from factory.base import FactoryOptions, OptionDefault  # noqa: E402

__all__ = ["OptionDefault", "SeedFactory", "SeedOptions", "invalid_option"]


_UNSET: Any = object()


class SeedOptions(FactoryOptions):
    """factory_boy options plus ``Meta.validate``; sequences follow the active seed context."""

    validate: Any
    check: Check | None

    def _build_default_options(self) -> list[OptionDefault]:
        return [*super()._build_default_options(), OptionDefault("validate", None, inherit=True)]

    def contribute_to_class(self, factory: type, *args: Any, **kwargs: Any) -> None:
        super().contribute_to_class(factory, *args, **kwargs)
        self.check = compile_validator(self.validate, owner=factory.__name__)
        if not self.abstract:
            self.validate_options(factory.__name__)

    def validate_options(self, owner: str) -> None:
        """Check the subclass's own options (raise ``IK-USAGE-INVALID-DECLARATION``)."""

    def sequence_owner(self) -> SeedOptions:
        owner = self.__dict__.get("_ik_owner")
        if owner is None:
            owner = self._ik_owner = self._find_sequence_owner()
        return owner  # type: ignore[no-any-return]

    def _find_sequence_owner(self) -> SeedOptions:
        """The options whose counter this factory uses: its topmost concrete ancestor.

        factory_boy shares one counter between all factories of the same model class; all
        of the kit's factories build dicts, so sharing stops at the kit's abstract bases:
        ``OrderFactory`` and ``CustomerFactory`` count separately, a subclass of
        ``CustomerFactory`` counts with it.
        """
        owner: SeedOptions = self
        factory_class: Any = self.factory
        for klass in factory_class.__mro__[1:]:
            meta = klass.__dict__.get("_meta")
            if not isinstance(meta, SeedOptions) or meta.abstract:
                break
            owner = meta
        return owner

    def next_sequence(self) -> int:
        # In a seed context the counter is the context's, so a test's ids do not depend
        # on which tests ran before it; outside one it lives on the owner's options.
        owner: SeedOptions = self.__dict__.get("_ik_owner") or self.sequence_owner()
        ctx = context.current()
        if ctx is not None:
            counters = ctx.sequences
            value = counters.get(owner, _UNSET)
            if value is not _UNSET:
                counters[owner] = value + 1
                return value  # type: ignore[no-any-return]
        owner_factory: Any = owner.factory
        first = owner_factory._setup_next_sequence()
        if ctx is not None:
            return ctx.next_sequence(owner, first)
        value = owner.__dict__.get("_ik_sequence", first)
        owner._ik_sequence = value + 1  # type: ignore[attr-defined]
        return int(value)

    def reset_sequence(self, value: int | None = None, force: bool = False) -> None:
        """``Factory.reset_sequence()``: the next sequence value (in the active context) is ``value``."""
        owner = self.sequence_owner()
        owner_factory: Any = owner.factory
        first = owner_factory._setup_next_sequence() if value is None else value
        ctx = context.current()
        if ctx is not None:
            ctx.sequences[owner] = first
        else:
            owner._ik_sequence = first  # type: ignore[attr-defined]

    def run_check(self, record: Mapping[str, Any]) -> None:
        if self.check is not None:
            self.check(record)


def invalid_option(owner: str, attribute: str, value: Any, expected: str) -> UsageError:
    """``IK-USAGE-INVALID-DECLARATION`` for ``Meta.<attribute>`` of factory ``owner``."""
    return invalid_declaration(owner, f"Meta.{attribute}", value, expected)


class SeedFactory(factory.Factory):
    """A factory of plain dict records with the kit's options (validation, per-test sequences).

    ``build()``/``build_batch()`` return validated dicts; nothing is written anywhere.
    """

    _options_class = SeedOptions

    class Meta:
        model = dict
        abstract = True

    @classmethod
    def _build(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        record = dict(kwargs)
        cls._meta.run_check(record)  # type: ignore[attr-defined]
        return record

    @classmethod
    def _create(cls, model_class: type, *args: Any, **kwargs: Any) -> Any:
        return cls._build(model_class, *args, **kwargs)
