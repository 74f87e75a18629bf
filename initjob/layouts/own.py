"""initjob's own layout: ``<version>_<name>.up.sql`` and ``.down.sql`` (read by ``source``); no other table."""

from __future__ import annotations

from typing import ClassVar

from initjob.layouts.base import INITJOB, Layout
from initjob.names import MIGRATION_NAME


class Own(Layout):
    name: ClassVar[str] = INITJOB
    expected: ClassVar[str] = "<digits>_<name>.up.sql or .down.sql"
    pattern: ClassVar[str] = MIGRATION_NAME


LAYOUT = Own()
