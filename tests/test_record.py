"""``@record`` behaves as ``@dataclass(frozen=True)``: each case builds the same class both ways and
compares what a caller can observe (construction, defaults, equality, hash, repr, immutability,
``dataclasses.replace``/``fields``/``asdict``), and mypy sees the same constructor."""

from __future__ import annotations

import copy
import dataclasses
import itertools
import pickle
import re
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pytest

from initjob.record import record

Decorator = Callable[[type], type]
FROZEN: Decorator = dataclass(frozen=True)


# Each maker defines one class with the decorator it is given: the same source, built both ways.
# The classes stand for the shapes of the no-op path (config's settings, decide's decisions, state's rows).

def plain(deco: Decorator) -> type:
    @deco
    class Row:
        version: int
        name: str

    return Row


def with_defaults(deco: Decorator) -> type:
    @deco
    class Settings:
        """Some values hidden from repr, as ConnectionSettings hides its DSNs."""

        dsn: str = field(default="", repr=False)
        timeout: float = 60.0
        shadow: str | None = field(default=None, repr=False)
        release: str | None = None

    return Settings


def with_factory(deco: Decorator) -> type:
    @deco
    class State:
        layout: int = 0
        files: dict[str, str] = field(default_factory=dict)
        applied: tuple[str, ...] = ()

    return State


def empty(deco: Decorator) -> type:
    @deco
    class ApplyFiles:
        """No fields at all."""

    return ApplyFiles


def not_compared(deco: Decorator) -> type:
    @deco
    class Tagged:
        key: str
        note: str = field(default="", compare=False)
        weight: int = field(default=0, hash=False)

    return Tagged


def with_properties(deco: Decorator) -> type:
    @deco
    class Tree:
        """A property and a cached_property next to the fields, as tree.Tree has."""

        root: str
        tool: str = "initjob"

        @property
        def label(self) -> str:
            return f"{self.tool}:{self.root}"

        @cached_property
        def parts(self) -> tuple[str, ...]:
            return tuple(self.root.split("/"))

    return Tree


def nested(deco: Decorator) -> type:
    inner = with_defaults(deco)

    @deco
    class Config:
        command: str = "run"
        connection: Any = inner()  # a frozen instance is a valid (hashable) default

    return Config


# (maker, calls): each call is (args, kwargs) that both versions must accept alike.
CASES: list[tuple[Callable[[Decorator], type], list[tuple[tuple[Any, ...], dict[str, Any]]]]] = [
    (plain, [((1, "a"), {}), ((1,), {"name": "a"}), ((), {"name": "b", "version": 2})]),
    (with_defaults, [((), {}), (("postgresql://u:pw@h/db",), {}), ((), {"release": "v1", "timeout": 5.0})]),
    (with_factory, [((), {}), ((1, {"a.sql": "x"}), {}), ((), {"applied": ("1",)})]),
    (empty, [((), {})]),
    (not_compared, [(("k",), {}), (("k", "note"), {"weight": 3})]),
    (with_properties, [(("a/b",), {}), (("a/b", "flyway"), {})]),
    (nested, [((), {}), (("verify",), {})]),
]
IDS = [maker.__name__ for maker, _ in CASES]


def describe_fields(cls: type) -> list[tuple[Any, ...]]:
    """What ``dataclasses.fields`` tells about each field (a default by its repr: the classes differ)."""
    return [(f.name, f.type, repr(f.default), f.default_factory, f.repr, f.compare, f.hash, f.init, f.kw_only)
            for f in dataclasses.fields(cls)]


def state(obj: object) -> list[tuple[str, str]]:
    """An instance's attributes in the order they were set, by repr."""
    return [(k, repr(v)) for k, v in vars(obj).items()]


def outcome(fn: Callable[[], Any]) -> Any:
    """A value's repr, or the exception's type and message: what a caller sees either way."""
    try:
        return ("ok", repr(fn()))
    except Exception as exc:
        return (type(exc), str(exc).replace("__init__() ", ""))


@pytest.mark.parametrize(("maker", "calls"), CASES, ids=IDS)
def test_observable_behaviour_is_a_frozen_dataclass(maker: Callable[[Decorator], type],
                                                    calls: list[tuple[tuple[Any, ...], dict[str, Any]]]) -> None:
    dc, rec = maker(FROZEN), maker(record)
    assert rec.__qualname__ == dc.__qualname__
    assert describe_fields(rec) == describe_fields(dc)
    assert dataclasses.is_dataclass(rec) and rec.__match_args__ == dc.__match_args__
    for name in (f.name for f in dataclasses.fields(dc)):  # class attributes: the default, or none
        assert outcome(lambda n=name: getattr(rec, n)) == outcome(lambda n=name: getattr(dc, n))
    made = []
    for args, kwargs in calls:
        a, b = dc(*args, **kwargs), rec(*args, **kwargs)
        made.append((a, b))
        assert repr(b) == repr(a)
        assert state(b) == state(a)  # the same values, in field order
        assert dataclasses.asdict(b) == dataclasses.asdict(a)
        assert b == rec(*args, **kwargs) and b != a  # equal to its own class only, like a dataclass
        assert outcome(lambda a=a: hash(a)) == outcome(lambda b=b: hash(b))  # the same tuple hashed, or TypeError
        for name in ("version", "dsn", "layout", "key", "root", "command", "nope"):  # frozen, fields or not
            assert outcome(lambda b=b, n=name: setattr(b, n, 1)) == outcome(lambda a=a, n=name: setattr(a, n, 1))
            assert outcome(lambda b=b, n=name: delattr(b, n)) == outcome(lambda a=a, n=name: delattr(a, n))
        assert copy.deepcopy(b) == b
        for f in dataclasses.fields(dc):  # replace: one field changed, the others kept
            if f.type in ("int", "float"):
                assert state(dataclasses.replace(b, **{f.name: 7})) == state(dataclasses.replace(a, **{f.name: 7}))
    for (a1, b1), (a2, b2) in itertools.pairwise(made):
        assert (b1 == b2) == (a1 == a2)
    # Wrong calls fail alike: too many arguments, an unknown keyword, one given twice, one missing.
    names = [f.name for f in dataclasses.fields(dc)]
    wrong: list[tuple[tuple[Any, ...], dict[str, Any]]] = [((0,) * (len(names) + 1), {}), ((), {"nope": 1})]
    if names:
        wrong += [((0,), {names[0]: 1}), ((), {})]
    for args, kwargs in wrong:
        assert outcome(lambda a=args, k=kwargs: rec(*a, **k))[0] == outcome(lambda a=args, k=kwargs: dc(*a, **k))[0]


def test_instances_survive_pickle() -> None:
    """Module-level records pickle as dataclasses do (by their __dict__)."""
    from initjob.config import Config
    from initjob.state import DbState

    for value in (Config(), DbState(schema_files={"a.sql": "x"})):
        assert pickle.loads(pickle.dumps(value)) == value


def test_factories_run_per_instance() -> None:
    cls = with_factory(record)
    a, b = cls(), cls()
    assert a.files == {} and a.files is not b.files


def test_properties_and_cached_properties_work() -> None:
    cls = with_properties(record)
    tree = cls("a/b")
    assert tree.label == "initjob:a/b" and tree.parts == ("a", "b") and tree.parts is tree.parts
    assert tree == cls("a/b")  # the cached value is not a field: equality is unchanged


@pytest.mark.parametrize(("source", "error"), [
    ("    items: list[int] = []\n", ValueError),  # a mutable default, as @dataclass refuses it
    ("    a: int = 1\n    b: int\n", TypeError),  # a required field after a defaulted one
    ("    a: ClassVar[int] = 1\n", TypeError),  # not supported: refused, not ignored
    ("    a: int = field(default=1, kw_only=True)\n", TypeError),
    ("    a: int\n    def __setattr__(self, name: str, value: object) -> None: ...\n", TypeError),
])
def test_what_dataclass_refuses_or_record_does_not_support_is_refused(source: str, error: type[Exception]) -> None:
    namespace: dict[str, Any] = {"record": record, "field": field}
    with pytest.raises(error):
        exec(f"from typing import ClassVar\n@record\nclass Bad:\n{source}", namespace)


def test_inherited_fields_are_refused() -> None:
    base = plain(FROZEN)
    with pytest.raises(TypeError, match="inherited"):
        record(type("Child", (base,), {"__annotations__": {"extra": "int"}}))


def test_the_no_op_path_classes_are_records() -> None:
    """The classes a no-op run builds at import time use ``record`` (a dataclass there costs ~0.3 ms each)."""
    from initjob import config, decide, report, retry, state, tree

    for module in (config, decide, report, retry, state, tree):
        classes = [v for v in vars(module).values() if isinstance(v, type) and v.__module__ == module.__name__
                   and dataclasses.is_dataclass(v)]
        assert classes, module
        for cls in classes:
            assert cls.__init__.__qualname__ == f"{cls.__qualname__}.__init__"
            assert cls.__init__.__code__.co_filename.endswith("record.py"), cls


# mypy sees the constructor of a record as that of a frozen dataclass: (line, expected error code or None).
MYPY_CASES: list[tuple[str, str | None]] = [
    ('P("a", 1)', None),
    ('P(name="a", tags={"k": "v"})', None),
    ('replace(P("a"), port=2)', None),
    ('P("a", "x")', "arg-type"),
    ("P()", "call-arg"),
    ('P("a", nope=1)', "call-arg"),
    ('P("a").port = 2', "misc"),  # frozen: the field is read-only
    ('reveal_type(P("a").tags)', "note"),
]


def test_mypy_sees_a_frozen_dataclass(tmp_path: Path) -> None:
    api = pytest.importorskip("mypy.api")
    header = textwrap.dedent("""\
        from dataclasses import field, replace

        from initjob.record import record


        @record
        class P:
            name: str
            port: int = 5432
            tags: dict[str, str] = field(default_factory=dict)


        """)
    first = header.count("\n") + 1
    (tmp_path / "snippet.py").write_text(header + "\n".join(line for line, _ in MYPY_CASES) + "\n")
    # This tree's initjob, not an installed one: mypy_path comes before site-packages.
    root = Path(__file__).resolve().parent.parent
    (tmp_path / "mypy.ini").write_text(f"[mypy]\nmypy_path = {root}\n")
    out, err, _ = api.run(["--config-file", str(tmp_path / "mypy.ini"), "--strict", "--no-error-summary",
                           "--show-error-codes", "--cache-dir", str(tmp_path / "cache"),
                           "--python-executable", sys.executable, str(tmp_path / "snippet.py")])
    assert not err, err
    found: dict[int, str] = {}
    for line in out.splitlines():
        parts = line.split(":")
        if len(parts) > 2 and parts[1].isdigit():
            found[int(parts[1])] = line
    for offset, (source, code) in enumerate(MYPY_CASES):
        message = found.get(first + offset, "")
        if code is None:
            assert not message, (source, message)
        elif code == "note":  # the field keeps its declared type
            assert re.search(r'Revealed type is "(builtins\.)?dict\[(builtins\.)?str, (builtins\.)?str\]"',
                             message), out
        else:
            assert f"[{code}]" in message, (source, out)
