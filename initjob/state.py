"""What a database has recorded about initjob's work, as plain values (read by ``db.history``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime


@dataclass(frozen=True)
class Applied:
    """One history row."""

    version: int
    version_text: str
    name: str
    kind: str
    checksum: str
    transactional: bool
    success: bool
    statements_done: int
    applied_at: datetime
    applied_by: str
    execution_ms: int | None

    @property
    def label(self) -> str:
        return f"{self.version_text}_{self.name}"


@dataclass(frozen=True)
class MarkerRow:
    taken_at: datetime
    lsn: str | None
    restore_point: str | None
    dump_path: str | None


@dataclass(frozen=True)
class DbState:
    """What initjob knows of a database: nothing (``layout == 0``) or its own tables' contents."""

    layout: int = 0
    mode: str | None = None
    fingerprint: str | None = None
    schema_files: dict[str, str] = field(default_factory=dict)
    schemas: tuple[str, ...] = ()
    catalog_token: str | None = None
    tree_hash: str | None = None  # "<hash of the SQL tree>:<history rows>" after a complete run, else None
    applied: tuple[Applied, ...] = ()
    last_marker: MarkerRow | None = None

    @property
    def known(self) -> bool:
        return self.layout > 0
