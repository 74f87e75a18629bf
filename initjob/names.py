"""The shape of a migration file's name, shared by the tree walk (``tree``) and the reader (``source``)."""

from __future__ import annotations

# <version>_<name>.up.sql / .down.sql, as text: ``re`` compiles (and caches) it when a migrations/
# folder is first walked, which an auto-sync run never does.
MIGRATION_NAME = r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<dir>up|down)\.sql$"
