"""The shape of a migration file's name, shared by the tree walk (``tree``) and the reader (``source``)."""

from __future__ import annotations

import re

# <version>_<name>.up.sql / .down.sql
MIGRATION_NAME = re.compile(r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<dir>up|down)\.sql$")
