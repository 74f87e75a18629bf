"""``@record``: a frozen dataclass built without generating code, for the classes of the no-op path.

``@dataclass(frozen=True)`` writes the source of six or so methods per class and compiles each one
while the module is imported: with ~40 such classes on the way of ``initjob run`` that was most of
the time spent importing initjob's own modules on every pod start.  ``record`` makes the same
methods as closures over the field list, with no compile step.

What a caller sees is a frozen dataclass: the same ``__init__`` (positional or keyword, defaults,
``field(default_factory=...)``), ``__eq__`` (same class, fields compared in order), ``__hash__``,
``__repr__`` (``field(repr=False)`` hidden), assignment and deletion raising
``dataclasses.FrozenInstanceError``, ``__match_args__``, and ``__dataclass_fields__`` holding real
``dataclasses.Field`` objects, so that ``dataclasses.replace``, ``fields``, ``asdict`` and
``is_dataclass`` work unchanged.  ``typing.dataclass_transform`` tells mypy the same, so
constructors are type-checked as a dataclass's are.

Not supported (refused when the class is decorated, rather than done differently): inheriting
fields, ``ClassVar``/``InitVar`` annotations, and the ``init``, ``kw_only`` and ``metadata`` options
of ``field``.  Classes off the no-op path keep ``@dataclass``: this is for import time only.
"""

from __future__ import annotations

import dataclasses
import inspect
from _thread import get_ident
from collections.abc import Callable
from dataclasses import MISSING
from operator import attrgetter
from typing import Any, TypeVar, dataclass_transform

T = TypeVar("T")

# The marker ``dataclasses.fields`` (and so ``asdict``) filters on; private, so a Python release that
# renames it fails tests/test_record.py instead of silently hiding every field.
_FIELD: object = vars(dataclasses)["_FIELD"]


def _key(names: tuple[str, ...]) -> Callable[[Any], tuple[Any, ...]]:
    """The tuple of those attributes: what ``__eq__`` compares and ``__hash__`` hashes."""
    if len(names) > 1:
        return attrgetter(*names)
    if names:
        one = names[0]
        return lambda obj: (getattr(obj, one),)
    return lambda obj: ()


def _fields_of(cls: type) -> dict[str, dataclasses.Field[Any]]:
    """The class's annotated fields as ``dataclasses.Field`` objects, checked as ``@dataclass`` checks them."""
    if any(hasattr(base, "__dataclass_fields__") for base in cls.__mro__[1:]):
        raise TypeError(f"@record {cls.__qualname__}: inherited fields are not supported")
    found: dict[str, dataclasses.Field[Any]] = {}
    for name, annotation in inspect.get_annotations(cls).items():
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if "ClassVar" in text or "InitVar" in text:
            raise TypeError(f"@record {cls.__qualname__}.{name}: ClassVar and InitVar are not supported")
        value = cls.__dict__.get(name, MISSING)
        f: dataclasses.Field[Any] = value if isinstance(value, dataclasses.Field) else dataclasses.field(default=value)
        if not f.init or f.kw_only not in (MISSING, False) or f.metadata:
            raise TypeError(f"@record {cls.__qualname__}.{name}: field(init, kw_only, metadata) is not supported")
        if f.default is not MISSING and f.default.__class__.__hash__ is None:
            raise ValueError(f"mutable default {type(f.default)} for field {name} is not allowed: "
                             "use default_factory")
        f.name, f.type, f.kw_only = name, annotation, False
        f._field_type = _FIELD  # type: ignore[attr-defined]
        found[name] = f
        # As @dataclass leaves it: the class attribute is the default, or absent.
        if f.default is MISSING:
            if name in cls.__dict__:
                delattr(cls, name)
        else:
            setattr(cls, name, f.default)
    optional = False
    for f in found.values():
        has_default = f.default is not MISSING or f.default_factory is not MISSING
        if optional and not has_default:
            raise TypeError(f"non-default argument {f.name!r} follows default argument")
        optional = optional or has_default
    return found


@dataclass_transform(frozen_default=True, field_specifiers=(dataclasses.field, dataclasses.Field))
def record(cls: type[T]) -> type[T]:
    """Make ``cls`` a frozen dataclass, as ``@dataclass(frozen=True)`` would, without compiling code."""
    fields = _fields_of(cls)
    names = tuple(fields)
    count = len(names)
    defaults = {f.name: f.default for f in fields.values() if f.default is not MISSING}
    factories = {f.name: f.default_factory for f in fields.values() if f.default_factory is not MISSING}
    post_init = hasattr(cls, "__post_init__")
    qualname = cls.__qualname__

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        if len(args) == count and not kwargs:  # the common call: every field, in order
            self.__dict__.update(zip(names, args, strict=True))
        else:
            self.__dict__.update(_arguments(args, kwargs))
        if post_init:
            self.__post_init__()

    def _arguments(args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The fields' values in field order, or the TypeError a generated ``__init__`` raises."""
        if len(args) > count:
            raise TypeError(f"{qualname}.__init__() takes {count + 1} positional arguments "
                            f"but {len(args) + 1} were given")
        given = dict(zip(names, args, strict=False))
        for name, value in kwargs.items():
            if name not in fields:
                raise TypeError(f"{qualname}.__init__() got an unexpected keyword argument {name!r}")
            if name in given:
                raise TypeError(f"{qualname}.__init__() got multiple values for argument {name!r}")
            given[name] = value
        values: dict[str, Any] = {}
        missing = []
        for name in names:
            if name in given:
                values[name] = given[name]
            elif name in defaults:
                values[name] = defaults[name]
            elif name in factories:
                values[name] = factories[name]()
            else:
                missing.append(name)
        if missing:
            raise TypeError(f"{qualname}.__init__() missing {len(missing)} required argument(s): "
                            + ", ".join(repr(m) for m in missing))
        return values

    compared = _key(tuple(n for n, f in fields.items() if f.compare))
    hashed = _key(tuple(n for n, f in fields.items() if (f.compare if f.hash is None else f.hash)))
    shown = tuple(n for n, f in fields.items() if f.repr)
    in_repr: set[tuple[int, int]] = set()

    def __eq__(self: Any, other: object) -> bool:
        if other.__class__ is self.__class__:
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self: Any) -> int:
        return hash(hashed(self))

    def __repr__(self: Any) -> str:
        key = (id(self), get_ident())
        if key in in_repr:  # a value that holds itself: as dataclasses' recursive repr says it
            return "..."
        in_repr.add(key)
        try:
            inner = ", ".join(f"{n}={getattr(self, n)!r}" for n in shown)
        finally:
            in_repr.discard(key)
        return f"{self.__class__.__qualname__}({inner})"

    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in fields:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    # As @dataclass(frozen=True) installs them: a method the class defines itself is kept, except that
    # a frozen class may not define its own __setattr__/__delattr__, and __hash__ is kept only when explicit.
    for name in ("__setattr__", "__delattr__"):
        if name in cls.__dict__:
            raise TypeError(f"Cannot overwrite attribute {name} in class {cls.__name__}")
    own_hash = cls.__dict__.get("__hash__", MISSING)
    explicit_hash = not (own_hash is MISSING or (own_hash is None and "__eq__" in cls.__dict__))
    for method in (__init__, __repr__, __eq__, __hash__, __setattr__, __delattr__):
        method.__qualname__ = f"{qualname}.{method.__name__}"
        if method.__name__ == "__hash__" and explicit_hash:
            continue
        if method.__name__ not in cls.__dict__ or method.__name__ == "__hash__":
            setattr(cls, method.__name__, method)
    made: Any = cls  # the two attributes dataclasses' functions and `match` read
    made.__dataclass_fields__ = fields
    if "__match_args__" not in cls.__dict__:
        made.__match_args__ = names  # type: ignore[misc]  # mypy treats it as read-only even on Any
    return cls
