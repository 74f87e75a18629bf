"""Every differing field accounted for: after planning, each field that differs between a live object
and its desired self (as the kind registry classifies fields) must be handled by a step of that object
or refused by name; what is neither is returned as a refusal line naming the kind, object and field.

Pure: snapshots and the names the plan's steps and refusals carry in, lines out. Not yet called by
the planner (``diff.plan_sync``): wiring it in needs the whole diff corpus run on PostgreSQL 15 and 18
first, to find the differences the planner leaves alone on purpose.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from initjob.schema import kinds
from initjob.schema.model import Snapshot, quote_ident
from initjob.schema.order import refers_to

# The fields whose difference needs a step (or a refusal): identity differences are other objects,
# ignored fields are not compared.
_ACCOUNTED = frozenset({kinds.Handling.PLANNED, kinds.Handling.MEMBERS, kinds.Handling.REFUSED})


def _name(kind: kinds.Kind, item: Any) -> str:
    """How steps name an object: schema-qualified, or by its own name where the schema is not part of
    its identity (schemas, extensions)."""
    own = quote_ident(item.name)
    return f"{quote_ident(item.schema)}.{own}" if kind.fields.get("schema") is kinds.Handling.IDENTITY else own


def _identity(kind: kinds.Kind, item: Any) -> tuple[Any, ...]:
    return tuple(getattr(item, f) for f, h in kind.fields.items() if h is kinds.Handling.IDENTITY)


def unaccounted(live: Snapshot, desired: Snapshot, named: Iterable[str]) -> tuple[str, ...]:
    """Lines for the differing fields no step or refusal accounts for.

    ``named``: each step's object and SQL, and each refusal line, of the plan that carries ``live``
    to ``desired``. An object is accounted for when one of them names it (by its qualified name).
    """
    texts = tuple(named)
    out: list[str] = []
    for kind in kinds.TOP_LEVEL:
        have = {_identity(kind, i): i for i in getattr(live, kind.key)}
        for want in getattr(desired, kind.key):
            old = have.get(_identity(kind, want))
            if old is None or old == want:
                continue
            fields = [f for f, h in kind.fields.items() if h in _ACCOUNTED and getattr(old, f) != getattr(want, f)]
            name = _name(kind, want)
            if fields and not any(refers_to(t, name) for t in texts):
                out.extend(f"{kind.label} {name}: {f} differs and no step changes it" for f in fields)
    return tuple(out)
