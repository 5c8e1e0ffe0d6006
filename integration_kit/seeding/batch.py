"""Batch builds: ``n`` instances of one factory call, as factory_boy builds them, parsed once.

factory_boy builds every instance from scratch (``StepBuilder.build``): it merges the
call's keyword arguments into the factory's declarations (``parse_declarations``), then
resolves each field through a ``Resolver``. For ``n`` instances of the same call that
merge gives the same declaration set every time, so a :class:`BatchPlan` does it once and
decides once, per field, how to evaluate it:

- a plain value: taken as is (the ``Resolver`` does no more);
- a declaration that keeps factory_boy's ``evaluate_pre`` and whose context holds no
  declarations: its ``evaluate`` with a fresh copy of that context (all ``evaluate_pre``
  does then);
- a ``SubFactory`` (``Dict``, ``List``) of a factory: a nested plan of the sub-factory,
  built with this step as its parent (all ``step.recurse`` does);
- anything else (``Maybe`` from traits, ``Transformer``, declarations with declared
  parameters, custom ones): its own ``evaluate_pre``, with a fresh copy of its context.

The rest runs as ``StepBuilder.build`` runs it, with factory_boy's own ``StepBuilder``
and ``BuildStep`` objects: the sequence number, the lazy order in which fields resolve
(a ``LazyAttribute`` evaluates what it reads first, which decides the order of random
draws), ``prepare_arguments``, ``instantiate``, post-generation declarations in their
order and ``_after_postgeneration``. A batch build therefore returns the instances, leaves
the random state and the sequence counters, and calls the hooks exactly as ``n`` calls of
``build``/``create`` do (``tests/unit/seeding/test_batch_build.py`` checks it
differentially). A factory that overrides ``_generate`` (or an abstract one) is built the per-instance way.

This reaches into ``factory.builder``: pyproject.toml pins the factory-boy range it was
written for, and ``scripts/ranges.sh`` tests both ends.
"""

from __future__ import annotations

import contextlib
import gc
import sys
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from factory import builder, declarations, enums, errors, faker, fuzzy
from factory.base import BaseFactory, FactoryOptions

_ATTRIBUTE_RESOLUTION = enums.BuilderPhase.ATTRIBUTE_RESOLUTION
_DEFAULT_EVALUATE_PRE = declarations.BaseDeclaration.evaluate_pre
_DEFAULT_UNROLL = declarations.BaseDeclaration.unroll_context
_SUBFACTORY_EVALUATE = declarations.SubFactory.evaluate
#: ``evaluate`` methods that never touch the instance being built (nor ``extra``, but
#: Faker's, which pops from it): such a field cannot take part in a lazy-attribute cycle,
#: so its evaluation needs no bookkeeping.
_INSTANCE_FREE = {
    declarations.Sequence.evaluate: False,
    declarations.LazyFunction.evaluate: False,
    declarations.Iterator.evaluate: False,
    fuzzy.BaseFuzzyAttribute.evaluate: False,
    faker.Faker.evaluate: True,
}
_GENERATE = BaseFactory._generate.__func__  # type: ignore[attr-defined]
_ADJUST_KWARGS = BaseFactory._adjust_kwargs.__func__  # type: ignore[attr-defined]

_CONSTANT, _EVALUATE, _NESTED, _OWN = "constant", "evaluate", "nested", "own"
#: ``sys.getrefcount`` (CPython): how a build tells that nothing but itself holds its step and resolver.
_REFCOUNT: Callable[[Any], int] | None = getattr(sys, "getrefcount", None)
#: References to a step, and to its resolver, when only the build holds them, as
#: :func:`_release` counts them: the build's variable, the other one's reference
#: (``step.stub``, the resolver's step), ``_release``'s parameter and ``getrefcount``'s argument.
_ONLY_THE_BUILD = 4
#: Attribute of a factory's ``_create``/``_build`` function: ``f(factory, kwargs)`` returning
#: what ``factory._create(model, **kwargs)`` returns (the batch build then skips the unpacking).
FROM_KWARGS = "ik_from_kwargs"
#: Attribute (True) of an ``_after_postgeneration`` function that does nothing when ``results`` is empty.
NOTHING_WITHOUT_RESULTS = "ik_nothing_without_results"
#: Batches from this size on run with the cyclic garbage collector paused.
PAUSE_COLLECTOR_FROM = 1000


@contextlib.contextmanager
def collector_paused(size: int) -> Iterator[None]:
    """Pause Python's cyclic garbage collector while a batch of ``size`` instances is made.

    Every instance adds objects that outlive the loop, so the collector's full passes
    (each over the whole heap) come again and again: at 60,000 rows they took 8 µs of the
    14 µs spent per row. ``timeit`` pauses the collector for the same reason. Reference
    counting still frees everything at once; the collector resumes (if it was on) when
    the batch is done.
    """
    if size < PAUSE_COLLECTOR_FROM or not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


def batch_supported(factory_class: type) -> bool:
    """Whether ``factory_class`` builds through factory_boy's ``_generate`` (else: per instance)."""
    generate = getattr(factory_class, "_generate", None)
    meta = getattr(factory_class, "_meta", None)
    return getattr(generate, "__func__", None) is _GENERATE and meta is not None and not meta.abstract


def instance_maker(factory_class: type, strategy: str, params: Mapping[str, Any]) -> Callable[[], Any]:
    """A function making one more instance of ``factory_class`` with ``params`` per call.

    Each call is equivalent to ``factory_class._generate(strategy, dict(params))``; the
    declarations are parsed on the first call.
    """
    if not batch_supported(factory_class):
        generate_one: Any = factory_class._generate  # type: ignore[attr-defined]
        return lambda: generate_one(strategy, dict(params))
    return BatchPlan(factory_class._meta, params, strategy).build  # type: ignore[attr-defined]


class _Field:
    """How one field of a plan is evaluated (decided once per batch)."""

    __slots__ = ("context", "copy_context", "declaration", "force_sequence", "free", "kind", "name", "nested")

    def __init__(self, name: str, declaration: Any, context: dict[str, Any]) -> None:
        self.name = name
        self.declaration = declaration
        self.context = context
        self.nested: BatchPlan | None = None
        self.force_sequence = False
        self.free = False  # instance-free: evaluated straight from the build loop
        self.copy_context = True
        self.kind = _kind(declaration, context)
        if self.kind == _EVALUATE:
            self.context = {**declaration._defaults, **context}
            self.force_sequence = bool(getattr(declaration, "FORCE_SEQUENCE", False))
            copy = _INSTANCE_FREE.get(type(declaration).evaluate)
            if copy is not None:
                self.free, self.copy_context = True, copy


def _kind(declaration: Any, context: dict[str, Any]) -> str:
    if enums.get_builder_phase(declaration) != _ATTRIBUTE_RESOLUTION:
        return _CONSTANT
    kind = type(declaration)
    if kind.evaluate_pre is not _DEFAULT_EVALUATE_PRE or kind.unroll_context is not _DEFAULT_UNROLL:
        return _OWN
    defaults = getattr(declaration, "_defaults", None)
    if not isinstance(defaults, dict):
        return _OWN
    if declaration.UNROLL_CONTEXT_BEFORE_EVALUATION and any(
        enums.get_builder_phase(value) for value in (*defaults.values(), *context.values())
    ):
        return _OWN  # declarations in the context: unroll_context builds them through a step
    return _EVALUATE


class BatchPlan:
    """One factory call (factory options, keyword arguments, strategy), parsed once."""

    def __init__(self, meta: Any, params: Mapping[str, Any], strategy: str) -> None:
        self.meta = meta
        # factory_boy's own step builder: it pops ``__sequence`` and is what steps recurse through.
        self.builder = builder.StepBuilder(meta, dict(params), strategy)
        self.force_init_sequence = self.builder.force_init_sequence
        pre, post = builder.parse_declarations(
            self.builder.extras, base_pre=meta.pre_declarations, base_post=meta.post_declarations
        )
        self.pre = pre
        self.fields = [_Field(name, pre.declarations[name], pre.contexts.get(name, {})) for name in pre]
        self.by_name = {field.name: field for field in self.fields}
        self.post = [(name, post.declarations[name], post.contexts.get(name, {})) for name in post.sorted()]
        self._arguments: Callable[[dict[str, Any]], tuple[tuple[Any, ...], dict[str, Any]]]
        self._arguments = meta.prepare_arguments
        self._instantiate: Callable[[Any, tuple[Any, ...], dict[str, Any]], Any] = self._make_instance
        self._finish: Callable[[Any, Any, dict[str, Any]], None] | None = self._postgeneration
        self._inline(meta, strategy)

    def _inline(self, meta: Any, strategy: str) -> None:
        """Where the options keep factory_boy's own methods, do what they do without the calls."""
        options = type(meta)
        keyword_only = False  # the arguments are always ((), kwargs)
        if (
            options.prepare_arguments is FactoryOptions.prepare_arguments
            and getattr(meta.factory._adjust_kwargs, "__func__", None) is _ADJUST_KWARGS
            and not meta.rename
            and not meta.inline_args
        ):
            hidden = frozenset(meta.exclude) | frozenset(meta.parameters)
            skip = declarations.SKIP
            self._arguments = lambda attributes: (
                (),
                {k: v for k, v in attributes.items() if k not in hidden and v is not skip},
            )
            keyword_only = True
        if (
            options.instantiate is FactoryOptions.instantiate
            and options.get_model_class is FactoryOptions.get_model_class
            and strategy in (enums.BUILD_STRATEGY, enums.CREATE_STRATEGY)
        ):
            model = meta.model
            make = meta.factory._build if strategy == enums.BUILD_STRATEGY else meta.factory._create
            self._instantiate = lambda step, args, kwargs: make(model, *args, **kwargs)
            # A ``_create``/``_build`` that says what it returns for ``(model, **kwargs)``
            # (``from_kwargs(factory, kwargs)``) is called without the keyword unpacking.
            from_kwargs = getattr(getattr(make, "__func__", None), FROM_KWARGS, None)
            if keyword_only and from_kwargs is not None:
                owner = meta.factory
                self._instantiate = lambda step, args, kwargs: from_kwargs(owner, kwargs)
        if options.use_postgeneration_results is FactoryOptions.use_postgeneration_results:
            after = meta.factory._after_postgeneration
            create = strategy == enums.CREATE_STRATEGY
            self._finish = lambda step, instance, results: after(instance, create=create, results=results)
            if not self.post and getattr(getattr(after, "__func__", None), NOTHING_WITHOUT_RESULTS, False):
                self._finish = None  # no post-generation declarations: the hook would do nothing

    def _make_instance(self, step: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        return self.meta.instantiate(step=step, args=args, kwargs=kwargs)

    def _postgeneration(self, step: Any, instance: Any, results: dict[str, Any]) -> None:
        self.meta.use_postgeneration_results(instance=instance, step=step, results=results)

    def build(self, parent_step: Any = None, force_sequence: int | None = None) -> Any:
        """One instance: ``StepBuilder.build`` with the parse done."""
        if force_sequence is not None:
            sequence = force_sequence
        elif self.force_init_sequence is not None:
            sequence = self.force_init_sequence
        else:
            sequence = self.meta.next_sequence()
        step = builder.BuildStep(builder=self.builder, sequence=sequence, parent_step=parent_step)
        stub = _Stub(self, step)
        step.stub = stub
        values = stub.__dict__["_Resolver__values"]
        attributes = step.attributes
        for field in self.fields:
            name = field.name
            if name in values:
                attributes[name] = values[name]
            elif field.free:
                context = dict(field.context) if field.copy_context else field.context
                attributes[name] = values[name] = field.declaration.evaluate(stub, step, context)
            else:
                attributes[name] = _evaluate(stub, step, values, field)
        args, kwargs = self._arguments(attributes)
        instance = self._instantiate(step, args, kwargs)
        results = {}
        for name, declaration, context in self.post:
            results[name] = declaration.evaluate_post(instance=instance, step=step, overrides=dict(context))
        finish = self._finish
        if finish is not None:
            finish(step, instance, results)
        _release(step, stub)
        return instance


def _release(step: Any, stub: _Stub) -> None:
    """Break the step/resolver cycle once nothing else can reach either of them.

    factory_boy's step and resolver refer to each other (``step.stub``, the resolver's
    step), so each instance leaves a cycle only the cyclic collector frees: at 60,000 rows
    the one collection after a batch took longer than writing them. When no other object
    holds the step or the resolver (no declaration kept the resolver, no post-generation
    hook or related factory kept the step, no child step still refers to it), nobody can
    ever see ``step.stub`` again, so setting it to ``None`` changes nothing observable and
    lets reference counting free both at once. Otherwise the cycle stays, as factory_boy leaves it.
    """
    if _REFCOUNT is not None and _REFCOUNT(stub) == _ONLY_THE_BUILD and _REFCOUNT(step) == _ONLY_THE_BUILD:
        step.stub = None


def _evaluate(stub: _Stub, step: Any, values: dict[str, Any], field: _Field) -> Any:
    """Resolve ``field`` of ``stub``'s row, as ``Resolver.__getattr__`` does."""
    kind = field.kind
    name = field.name
    if kind == _CONSTANT:
        value = values[name] = field.declaration
        return value
    pending = stub._Resolver__pending
    pending.append(name)
    try:
        if kind == _EVALUATE:
            nested = field.nested
            if nested is None and type(field.declaration).evaluate is _SUBFACTORY_EVALUATE:
                nested = field.nested = _nested_plan(field, step)
            if nested is not None:
                value = nested.build(
                    parent_step=step, force_sequence=step.sequence if field.force_sequence else None
                )
            else:
                value = field.declaration.evaluate(stub, step, dict(field.context))
        else:
            value = field.declaration.evaluate_pre(instance=stub, step=step, overrides=dict(field.context))
    finally:
        last = pending.pop()
    assert name == last
    values[name] = value
    return value


def _nested_plan(field: _Field, step: Any) -> BatchPlan | None:
    """The plan ``step.recurse`` would build for a SubFactory field (None: let it recurse)."""
    subfactory = field.declaration.get_factory()
    if not (isinstance(subfactory, type) and issubclass(subfactory, BaseFactory)):
        return None  # step.recurse raises factory_boy's AssociatedClassError
    return BatchPlan(subfactory._meta, field.context, step.builder.strategy)


class _Stub(builder.Resolver):  # type: ignore[misc]
    """factory_boy's ``Resolver`` (same state, same errors) over a plan's precomputed fields."""

    def __init__(self, plan: BatchPlan, step: Any) -> None:
        state = self.__dict__
        state["_Resolver__declarations"] = plan.pre
        state["_Resolver__step"] = step
        state["_Resolver__values"] = {}
        state["_Resolver__pending"] = []
        state["_ik_fields"] = plan.by_name
        state["_Resolver__initialized"] = True

    def __getattr__(self, name: str) -> Any:
        state = self.__dict__
        pending = state["_Resolver__pending"]
        if name in pending:
            raise errors.CyclicDefinitionError(
                f"Cyclic lazy attribute definition for {name!r}; cycle found in {pending!r}."
            )
        values = state["_Resolver__values"]
        if name in values:
            return values[name]
        field = state["_ik_fields"].get(name)
        if field is None:
            raise AttributeError(
                f"The parameter {name!r} is unknown. Evaluated attributes are {values!r}, "
                f"definitions are {state['_Resolver__declarations']!r}."
            )
        return _evaluate(self, state["_Resolver__step"], values, field)
