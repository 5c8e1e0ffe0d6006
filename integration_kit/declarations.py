"""Class options of the test base classes, declared once per mixin and validated in one place.

Each mixin lists its options in ``ik_options``: a tuple of :class:`Option` (name, default,
check, what is expected). ``ServiceTestCase.__init_subclass__`` calls :func:`declare`
when a test class is defined: every option of every mixin in the class's MRO is checked
with the same message (``IK-USAGE-INVALID-DECLARATION`` naming the class, the attribute,
the value and what it should be) and its normalised value stored once per class, where
the hooks read it with :func:`declared`::

    class KafkaTestCase(ServiceTestCase):
        ik_options = (
            Option("kafka_topic_scope", "class", one_of("class", "function")),
            Option("kafka_setup_timeout", 30.0, positive_number),
        )

Class-wide state the hooks keep in ``ClassContext.state`` is keyed by :func:`state_key`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from integration_kit.errors import ErrorCode, UsageError

_DECLARED = "_ik_declared"


class Invalid(ValueError):
    """Raised by a check: the value is not what the option expects (``expected`` says what)."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


Check = Callable[[Any], Any]


@dataclass(frozen=True)
class Option:
    """One class option: its attribute name, default, and a check that returns the value
    normalised (or raises :class:`Invalid`, or a layer's own coded error)."""

    name: str
    default: Any
    check: Check
    doc: str = ""


def invalid_declaration(owner: str, attribute: str, value: Any, expected: str) -> UsageError:
    """The one error for a declaration that is not what it should be."""
    return UsageError(
        ErrorCode.USAGE_INVALID_DECLARATION, attribute=attribute, value=value, owner=owner, expected=expected
    )


def options_of(cls: type) -> dict[str, Option]:
    """Every option the mixins in ``cls``'s MRO declare, by name (nearest class wins)."""
    found: dict[str, Option] = {}
    for klass in reversed(cls.__mro__):
        for option in klass.__dict__.get("ik_options", ()):
            found[option.name] = option
    return found


def declare(cls: type) -> None:
    """Check ``cls``'s options and store their normalised values; raises on the first bad one."""
    values: dict[str, Any] = {}
    for name, option in options_of(cls).items():
        value = getattr(cls, name, option.default)
        try:
            values[name] = option.check(value)
        except Invalid as exc:  # a layer's own coded error passes through unchanged
            raise invalid_declaration(cls.__qualname__, name, value, exc.expected) from None
    setattr(cls, _DECLARED, values)


def declared(cls: type, name: str) -> Any:
    """The normalised value of option ``name`` of ``cls`` (checked when ``cls`` was defined)."""
    if _DECLARED not in cls.__dict__:  # the base classes themselves are never declared
        declare(cls)
    return cls.__dict__[_DECLARED][name]


def state_key(layer: str, part: str = "") -> str:
    """The ``ClassContext.state`` key of a layer's class-wide state (``integration_kit.kafka``)."""
    return f"integration_kit.{layer}" + (f".{part}" if part else "")


# --- checks --------------------------------------------------------------------------------


def one_of(*choices: str) -> Check:
    """A check accepting exactly one of ``choices``."""
    expected = " or ".join(map(repr, choices))

    def check(value: Any) -> Any:
        if not isinstance(value, str) or value not in choices:
            raise Invalid(expected)
        return value

    return check


def positive_number(value: Any) -> float:
    """A finite number of seconds > 0 (not a bool)."""
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value <= 0
    ):
        raise Invalid("a finite number of seconds > 0")
    return float(value)


def a_dict(what: str) -> Check:
    """A check accepting a mapping (``what`` names its contents); returns a plain dict."""

    def check(value: Any) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            raise Invalid(f"a dict of {what}")
        return dict(value)

    return check


def callables(value: Any) -> tuple[Any, ...]:
    """A list of scenarios or callables (not a string)."""
    if isinstance(value, str | bytes) or not isinstance(value, Sequence) or not all(map(callable, value)):
        raise Invalid("a list of scenarios or callables")
    return tuple(value)
