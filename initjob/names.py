"""Names: the shape of a migration file's name, shared by the tree walk (``tree``) and the reader
(``source``); any name or text made safe for a comment line of generated SQL (pure)."""

from __future__ import annotations

# <version>_<name>.up.sql / .down.sql, as text: ``re`` compiles (and caches) it when a migrations/
# folder is first walked, which an auto-sync run never does.
MIGRATION_NAME = r"^(?P<version>[0-9]+)_(?P<name>[A-Za-z0-9][A-Za-z0-9_-]*)\.(?P<dir>up|down)\.sql$"


def comment_text(text: str) -> str:
    """``text`` made safe for one ``--`` comment line of generated SQL.

    A comment ends at a line break, so a name holding one (``"audit<LF>DELETE FROM users; --"``)
    would turn the rest of itself into a statement of the generated file. Line breaks, other
    control characters, the Unicode line separators and invisible format characters (which an
    editor may show as a break, or use to hide text) are written as ``\\n``, ``\\x1b``, ``\\u2028``;
    a backslash is doubled so the escaped form reads back unambiguously.
    """
    if text.isprintable() and "\\" not in text:  # the common case, checked in C
        return text
    return "".join(_escaped(c) for c in text)


def _escaped(c: str) -> str:
    if c == "\\":
        return "\\\\"
    if c.isprintable():
        return c
    return {"\n": "\\n", "\r": "\\r", "\t": "\\t"}.get(c) or c.encode("unicode_escape").decode("ascii")
