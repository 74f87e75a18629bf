"""What a database has recorded about initjob's work, as plain values (read by ``db.history``)."""

from __future__ import annotations

from dataclasses import field
from datetime import datetime

from initjob.record import record


@record
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
    source_tool: str | None = None  # the tool whose history this version was taken over from ("adopted")

    @property
    def label(self) -> str:
        return f"{self.version_text}_{self.name}"


@record
class MarkerRow:
    taken_at: datetime
    lsn: str | None
    restore_point: str | None
    dump_path: str | None


@record
class DbState:
    """What initjob knows of a database: nothing (``layout == 0``) or its own tables' contents."""

    layout: int = 0
    mode: str | None = None
    fingerprint: str | None = None
    schema_files: dict[str, str] = field(default_factory=dict)
    schemas: tuple[str, ...] = ()
    catalog_token: str | None = None
    tree_hash: str | None = None  # "<hash of the SQL tree>:<history rows>" after a complete run, else None
    repeatable_hash: str | None = None  # of the repeatable files, once all of them were applied
    applied: tuple[Applied, ...] = ()
    last_marker: MarkerRow | None = None
    # The tree hash an `expand` (INITJOB_PHASE) completed for while its contract half waits: the
    # recorded state is then expand's target, not the desired state. Cleared by any complete record.
    expanded: str | None = None

    @property
    def known(self) -> bool:
        return self.layout > 0


@record
class ForeignVersion:
    """A version another tool's history table holds as applied, with the checksum it recorded (if any)."""

    version: int
    version_text: str
    checksum: str | None = None


@record
class ForeignHistory:
    """Another tool's history table as it stands: what it holds as applied, and what it holds as broken.

    ``up_to``: every version up to it counts as applied (golang-migrate keeps only its current
    version; a Flyway baseline row stands for everything below it).  ``broken``: rows the tool
    itself would refuse to run past (a failed Flyway or Prisma migration, a dirty golang-migrate
    version), each said with what that tool's own remedy would have meant.
    """

    tool: str
    table: str | None = None  # None: no such table, nothing to take over
    versions: tuple[ForeignVersion, ...] = ()
    up_to: int | None = None
    broken: tuple[str, ...] = ()

    @property
    def empty(self) -> bool:
        return not self.versions and self.up_to is None and not self.broken
