"""A small lexer for SQL files: statement boundaries, line numbers, and what a file may not contain.

It knows exactly enough of PostgreSQL's lexical rules to not be fooled by semicolons or keywords
inside quotes, dollar quotes, comments and ``BEGIN ATOMIC ... END`` bodies.  It never interprets SQL.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

# Identifier characters: A-Z a-z _ and U+0080..U+FFFF (digits and $ after the first).  Written as negated
# classes, which match exactly the same characters but compile in under a millisecond instead of
# ~10 ms each (a positive U+0080..U+FFFF range makes sre build a large charset at import time).
_START = r"[^\x00-@\[-^`{-\x7f\U00010000-\U0010ffff]"  # [A-Za-z_\x80-\uffff]
_DOLLAR_TAG = re.compile(rf"\$(?:{_START}[^\x00-/:-@\[-^`{{-\x7f\U00010000-\U0010ffff]*)?\$")
_WORD = re.compile(rf"{_START}[^\x00-#%-/:-@\[-^`{{-\x7f\U00010000-\U0010ffff]*")
# Characters no branch of the lexer acts on, wherever they stand (not - / ' " $ ; nor a word's first
# character): after one, the lexer skips the whole run of them with one match.
_INERT_RUN = re.compile(r"[\x00-!#%-&(-,.0-:<-@\[-^`{-\x7f\U00010000-\U0010ffff]*")
_TX_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "END", "ABORT", "START", "SAVEPOINT", "RELEASE", "PREPARE"}


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its text (without the trailing semicolon) and first line (1-based)."""

    text: str
    line: int
    first_words: tuple[str, ...]


# The plain case, most migration files: ASCII with no dollar quote, backslash, block comment or
# BEGIN ATOMIC.  There, line comments, quoted strings and semicolons are all the lexer acts on, and
# one regular expression finds them (several times faster than the general loop below, same result).
_NEEDS_FULL_LEXER = re.compile(r"[$\\]|/\*|atomic|[^\x00-\x7f]", re.IGNORECASE)
_PLAIN_TOKEN = re.compile(r"""--[^\n]*\n?|'[^']*(?:''[^']*)*'|"[^"]*(?:""[^"]*)*"|;|['"]""")
_PLAIN_WORD = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*")


def split_statements(text: str) -> list[Statement]:
    """Split SQL text into top-level statements; comments-only pieces are dropped."""
    if not _NEEDS_FULL_LEXER.search(text):
        plain = _split_plain(text)
        if plain is not None:
            return plain
    out: list[Statement] = []
    start = 0
    words: list[str] = []
    atomic_depth = 0
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "-" and text.startswith("--", i):
            j = text.find("\n", i)
            i = n if j < 0 else j + 1
        elif c == "/" and text.startswith("/*", i):
            i = _skip_block_comment(text, i)
        elif c == "'":
            escape = i > 0 and text[i - 1] in "eE" and (i < 2 or not (text[i - 2].isalnum() or text[i - 2] == "_"))
            i = _skip_quoted(text, i, "'", backslash=escape)
        elif c == '"':
            i = _skip_quoted(text, i, '"', backslash=False)
        elif c == "$" and (m := _DOLLAR_TAG.match(text, i)) and not _is_word_char(text, i - 1):
            end = text.find(m.group(0), m.end())
            i = n if end < 0 else end + len(m.group(0))
        elif c == ";" and atomic_depth == 0:
            _emit(out, text, start, i, words)
            start, words = i + 1, []
            i += 1
        elif (m := _WORD.match(text, i)) and not _is_word_char(text, i - 1):
            word = m.group(0).upper()
            if len(words) < 3:
                words.append(word)
            # SQL-standard function bodies hold semicolons until their END.
            if word == "ATOMIC" and _previous_word(text, i) == "BEGIN":
                atomic_depth += 1
            elif word == "END" and atomic_depth > 0:
                atomic_depth -= 1
            elif word == "CASE" and atomic_depth > 0:
                atomic_depth += 1
            i = m.end()
        else:
            i = _INERT_RUN.match(text, i + 1).end()  # type: ignore[union-attr]  # a * pattern always matches
    _emit(out, text, start, n, words)
    return out


def _split_plain(text: str) -> list[Statement] | None:
    """``split_statements`` of a plain text (see _NEEDS_FULL_LEXER); None at an unterminated quote."""
    out: list[Statement] = []
    start = pos = 0
    words: list[str] = []
    for m in _PLAIN_TOKEN.finditer(text):
        if len(words) < 3:
            words += [w.upper() for w in _PLAIN_WORD.findall(text, pos, m.start())[: 3 - len(words)]]
        token = m.group()
        if token == ";":
            _emit(out, text, start, m.start(), words)
            start, words = m.end(), []
        elif token in ("'", '"'):
            return None
        pos = m.end()
    if len(words) < 3:
        words += [w.upper() for w in _PLAIN_WORD.findall(text, pos)[: 3 - len(words)]]
    _emit(out, text, start, len(text), words)
    return out


def _is_word_char(text: str, i: int) -> bool:
    return i >= 0 and (text[i].isalnum() or text[i] in "_$")


def _previous_word(text: str, i: int) -> str:
    before = text[:i].rstrip()
    m = re.search(r"([A-Za-z_]+)$", before)
    return m.group(1).upper() if m else ""


def _skip_block_comment(text: str, i: int) -> int:
    depth, i, n = 0, i, len(text)
    while i < n:
        if text.startswith("/*", i):
            depth += 1
            i += 2
        elif text.startswith("*/", i):
            depth -= 1
            i += 2
            if depth == 0:
                return i
        else:
            i += 1
    return n


def _skip_quoted(text: str, i: int, quote: str, backslash: bool) -> int:
    i += 1
    n = len(text)
    while i < n:
        c = text[i]
        if backslash and c == "\\":
            i += 2
        elif c == quote:
            if i + 1 < n and text[i + 1] == quote:
                i += 2
            else:
                return i + 1
        else:
            i += 1
    return n


def _emit(out: list[Statement], text: str, start: int, end: int, words: list[str]) -> None:
    piece = text[start:end]
    if not words:
        return
    lead = len(piece) - len(piece.lstrip())
    # Skip leading comments so the reported line is the statement's own first line.
    offset = start + lead
    while text.startswith("--", offset) or text.startswith("/*", offset):
        if text.startswith("--", offset):
            j = text.find("\n", offset)
            offset = end if j < 0 else j + 1
        else:
            offset = _skip_block_comment(text, offset)
        while offset < end and text[offset].isspace():
            offset += 1
    out.append(Statement(text[offset:end].strip(), text.count("\n", 0, offset) + 1, tuple(words)))


def line_of(text: str, position: int) -> int:
    """1-based line of a 1-based character position, as PostgreSQL reports ``statement_position``."""
    return text.count("\n", 0, max(position - 1, 0)) + 1


def transaction_control(stmt: Statement) -> bool:
    """True for statements that would end or split the transaction a file runs in."""
    if not stmt.first_words:
        return False
    first = stmt.first_words[0]
    if first == "START":
        return stmt.first_words[1:2] == ("TRANSACTION",)
    if first == "PREPARE":
        return stmt.first_words[1:2] == ("TRANSACTION",)
    if first == "RELEASE" or first == "SAVEPOINT":
        return True
    return first in _TX_CONTROL


def meta_command_lines(text: str) -> list[int]:
    """Lines that start with a psql backslash command (``\\i``, ``\\connect``): psql, not SQL."""
    lines = []
    for number, line in enumerate(text.split("\n"), start=1):
        if re.match(r"^\s*\\[A-Za-z!?]", line):
            lines.append(number)
    return lines


# Statements PostgreSQL refuses inside a transaction block, so a file holding one must opt out.
_NON_TRANSACTIONAL = (
    re.compile(r"^CREATE\s+(UNIQUE\s+)?INDEX\s+CONCURRENTLY\b", re.I),
    re.compile(r"^DROP\s+INDEX\s+CONCURRENTLY\b", re.I),
    re.compile(r"^REINDEX\b.*\bCONCURRENTLY\b", re.I | re.S),
    re.compile(r"^(VACUUM|CREATE\s+DATABASE|DROP\s+DATABASE|ALTER\s+SYSTEM|CREATE\s+TABLESPACE)\b", re.I),
    re.compile(r"^ALTER\s+TABLE\b.*\bDETACH\s+PARTITION\b.*\bCONCURRENTLY\b", re.I | re.S),
)


def needs_no_transaction(stmt: Statement) -> bool:
    return any(p.match(stmt.text) for p in _NON_TRANSACTIONAL)


_CIC_NAME = re.compile(
    r"^CREATE\s+(?:UNIQUE\s+)?INDEX\s+CONCURRENTLY\s+(?:IF\s+NOT\s+EXISTS\s+)?"
    r"(?P<name>\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)\s+ON\s+(?:ONLY\s+)?"
    r"(?P<table>(?:(?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*)\.)?(?:\"(?:[^\"]|\"\")+\"|[A-Za-z_][A-Za-z0-9_$]*))",
    re.I,
)


def concurrent_index_target(stmt: Statement) -> tuple[str, str] | None:
    """(index name, table as written) of a ``CREATE INDEX CONCURRENTLY``, for cleaning up after a crash."""
    m = _CIC_NAME.match(stmt.text)
    return (m.group("name"), m.group("table")) if m else None
