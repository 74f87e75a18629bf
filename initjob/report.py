"""What a command did, returned (never filled in by callees) for the final log line and for stdout."""

from __future__ import annotations

from dataclasses import field
from typing import TYPE_CHECKING, Any

from initjob.record import record

if TYPE_CHECKING:  # a type only: the marker's pg_dump machinery stays off the no-op path
    from initjob.db.marker import Marker


@record
class Report:
    mode: str
    applied: tuple[str, ...] = ()
    baselined: tuple[str, ...] = ()
    marker: Marker | None = None
    output: str = ""
    details: dict[str, Any] = field(default_factory=dict)
