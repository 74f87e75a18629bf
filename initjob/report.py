"""What a command did, returned (never filled in by callees) for the final log line and for stdout."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # a type only: the marker's pg_dump machinery stays off the no-op path
    from initjob.db.marker import Marker


@dataclass(frozen=True)
class Report:
    mode: str
    applied: tuple[str, ...] = ()
    baselined: tuple[str, ...] = ()
    marker: Marker | None = None
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)
