"""A lexer for SQL files: statement boundaries, line numbers, and what only psql could run.

It splits where psql splits a plain SQL file and knows exactly enough of the lexical rules to not be
fooled by a semicolon in a string (standard, ``E''``, ``U&''``), a quoted identifier, a dollar quote,
a nested block comment, parentheses (``CREATE RULE ... DO ALSO (a; b)``) or a ``BEGIN ATOMIC ... END``
body.  It never interprets SQL.  One pass, linear in the text: a regular expression skips each run
of text that cannot end a statement, Python decides at the character that stopped it, and line
numbers are counted forward from the previous answer.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_TX_CONTROL = {"BEGIN", "COMMIT", "ROLLBACK", "END", "ABORT", "START", "SAVEPOINT", "RELEASE", "PREPARE"}
# A run of text in which nothing ends a statement or needs a decision: plain characters, standard
# strings, quoted identifiers, line comments, a lone - or /, an E that does not open a string, a $ that
# does not look like a dollar-quote tag.  The lexer's Python loop runs once per run, not per token.
# Repeats are possessive (*+): nothing here backtracks, and a plain * would keep a backtracking entry
# per repetition (half a gigabyte for one 10 MB INSERT).
# A line comment ends at LF or CR, as in PostgreSQL's lexer: "-- x<CR>DROP TABLE t" runs the DROP.
_QUOTED = r"--[^\n\r]*+|'[^']*+(?:''[^']*+)*+'|" + r'"[^"]*+(?:""[^"]*+)*+"'
_RUN = re.compile(rf"""(?:[^;/$\\'"eE-]++|{_QUOTED}|-|/(?!\*)|[eE](?!')|\$(?!(?:[^\W\d]\w*)?\$))*+""")
# The parentheses of a run that are outside its quotes and comments, one match each, then an empty one.
_PLAIN_PAREN = re.compile(rf"""(?:{_QUOTED}|[^()'"-]++|-)*+(?:([()])|\Z)""")
_STANDARD_STRING = re.compile(r"'[^']*+(?:''[^']*+)*+'")
_ESCAPE_STRING = re.compile(r"'[^'\\]*+(?:(?:\\.|'')[^'\\]*+)*+'", re.S)
_DOLLAR_TAG = re.compile(r"\$(?:[^\W\d]\w*)?\$")
_COMMENT_MARK = re.compile(r"/\*|\*/")
# The next word, quotes, comments, numbers and punctuation skipped over; at the end, an empty match
# (not a failure: a failed match would be retried from inside the quotes just skipped).
_WORD = re.compile(rf"""(?:{_QUOTED}|[^\w$'"-]++|-|[\d$][\w$]*+)*+(?:([^\W\d][\w$]*+)|\Z)""")
# psql tracks BEGIN/CASE/END only in CREATE [OR REPLACE] FUNCTION|PROCEDURE, outside parentheses.
_ROUTINE_TOKEN = re.compile(rf"{_QUOTED}|[()]|(?<![\w$])(?:begin|case|end)(?![\w$])", re.I)
_LEADING_SPACE_AND_LINE_COMMENTS = re.compile(r"(?:\s++|--[^\n\r]*+)*+")
# What pg_dump 17.6+/18 writes around a dump: psql meta-commands initjob may skip as comments.
_DUMP_DIRECTIVE = re.compile(r"\\(?:un)?restrict[ \t]+[A-Za-z0-9]+[ \t]*(?=\n|$)")
_FROM_STDIN = re.compile(r"\bFROM\s+STDIN\b", re.I)
_COPY_DATA_END = re.compile(r"^\\\.[ \t]*$", re.M)


@dataclass(frozen=True)
class Statement:
    """One top-level statement: its text (without the trailing semicolon) and first line (1-based)."""

    text: str
    line: int
    first_words: tuple[str, ...]


@dataclass
class Scan:
    """A file as psql would read it: its statements, what only psql runs, and pg_dump's directives."""

    statements: list[Statement] = field(default_factory=list)
    psql_only: list[tuple[int, str]] = field(default_factory=list)
    directives: list[tuple[int, int]] = field(default_factory=list)


class _Lines:
    """Line numbers of increasing (or slightly receding) positions, counted from the previous answer."""

    def __init__(self, text: str) -> None:
        self.text, self.pos, self.line = text, 0, 1

    def at(self, pos: int) -> int:
        if pos >= self.pos:
            self.line += self.text.count("\n", self.pos, pos)
        else:
            self.line -= self.text.count("\n", pos, self.pos)
        self.pos = pos
        return self.line


class _Lexer:
    """One pass over a file; the state psql keeps per statement (words, parentheses, BEGIN depth)."""

    def __init__(self, text: str) -> None:
        self.text, self.n = text, len(text)
        self.lines = _Lines(text)
        self.scan = Scan()
        self._reset(0)

    def _reset(self, start: int) -> None:
        self.start, self.parens, self.depth, self.routine = start, 0, 0, False
        self.words: list[str] = []
        self.plain_from = start

    def run(self) -> Scan:
        text, n, pos = self.text, self.n, 0
        run = _RUN.match
        while (pos := run(text, pos).end()) < n:  # type: ignore[union-attr]  # a * pattern always matches
            at, c = pos, text[pos]
            if c == "$" and _is_identifier_char(text, at - 1):
                pos += 1  # a$b$c is one identifier: the run goes on
                continue
            if c in "eE" and _is_identifier_char(text, at - 1):
                at += 1  # one'x': the E ends a word, a standard string follows
                c = "'"
            self._plain(self.plain_from, at)
            self.plain_from = pos = self._act(c, at)
        self._plain(self.plain_from, n)
        self._emit(n)
        return self.scan

    def _act(self, c: str, at: int) -> int:
        """What the character that ended a run does; returns where lexing goes on."""
        text = self.text
        if c == ";":
            return self._end_statement(at) if self.parens == 0 and self.depth == 0 else at + 1
        if c == "/":
            return _block_comment_end(text, at)
        if c == "$":
            tag = _DOLLAR_TAG.match(text, at).group()  # type: ignore[union-attr]  # _RUN stops only at a tag
            end = text.find(tag, at + len(tag))  # up to the same tag
            return self.n if end < 0 else end + len(tag)
        if c == "\\":
            return self._backslash(at)
        if c in "eE":
            m = _ESCAPE_STRING.match(text, at + 1)
        elif c == "'":
            m = _STANDARD_STRING.match(text, at)
        else:
            m = None  # a quoted identifier that never closes
        return self.n if m is None else m.end()  # an unterminated quote runs to the end

    def _plain(self, start: int, end: int) -> None:
        """A run: the statement's first words, parentheses, BEGIN/CASE/END in a routine (quotes skipped)."""
        if start >= end:
            return
        text = self.text
        if len(self.words) < 4:
            w = self.words
            for m in _WORD.finditer(text, start, end):  # not findall: a run can be a whole long statement
                if m.group(1) is None or len(w) == 4:
                    break
                w.append(m.group(1).upper())
            self.routine = len(w) > 1 and w[0] == "CREATE" and (
                w[1] in ("FUNCTION", "PROCEDURE") or (w[1:3] == ["OR", "REPLACE"] and w[3:4] in (["FUNCTION"],
                                                                                                   ["PROCEDURE"])))
        if self.routine:
            self._routine(start, end)
            return
        opened, closed = text.count("(", start, end), text.count(")", start, end)
        if (opened or closed) and (text.find("'", start, end) >= 0 or text.find('"', start, end) >= 0
                                   or text.find("--", start, end) >= 0):
            found = _PLAIN_PAREN.findall(text, start, end)  # parentheses in quotes do not count
            opened, closed = found.count("("), found.count(")")
        self.parens = max(self.parens + opened - closed, 0)

    def _routine(self, start: int, end: int) -> None:
        """In CREATE FUNCTION/PROCEDURE: BEGIN ... END outside parentheses holds semicolons (as psql counts)."""
        for m in _ROUTINE_TOKEN.finditer(self.text, start, end):
            word = m.group().upper()
            if word == "(":
                self.parens += 1
            elif word == ")":
                self.parens = max(self.parens - 1, 0)
            elif self.parens > 0:  # quoted text matched whole never equals a keyword: it falls through
                continue
            elif word == "BEGIN" or (word == "CASE" and self.depth > 0):
                self.depth += 1
            elif word == "END" and self.depth > 0:
                self.depth -= 1

    def _backslash(self, at: int) -> int:
        """A psql meta-command: refused, except pg_dump's own ``\\restrict`` lines, skipped like comments."""
        m = _DUMP_DIRECTIVE.match(self.text, at)
        if m is not None and (at == 0 or self.text[at - 1] == "\n"):
            self.scan.directives.append((at, m.end()))
            end = m.end()
        else:
            self.scan.psql_only.append((self.lines.at(at), "psql meta-command"))
            j = self.text.find("\n", at)
            end = self.n if j < 0 else j + 1
        if not self.words:  # between statements, the line is no part of the next one
            self.start = end
        return end

    def _end_statement(self, at: int) -> int:
        stmt = self._emit(at)
        self._reset(at + 1)
        if stmt is None or stmt.first_words[:1] != ("COPY",) or not _FROM_STDIN.search(stmt.text):
            return at + 1
        # psql reads the rows that follow up to a line "\\.": skip them, the statement is refused.
        self.scan.psql_only.append((stmt.line, "COPY ... FROM stdin"))
        m = _COPY_DATA_END.search(self.text, at + 1)
        end = self.n if m is None else m.end()
        self.start = end
        return end

    def _emit(self, end: int) -> Statement | None:
        """Record the statement between ``self.start`` and ``end``, its leading comments left out."""
        text, offset = self.text, self.start
        while True:
            offset = _LEADING_SPACE_AND_LINE_COMMENTS.match(text, offset, end).end()  # type: ignore[union-attr]
            if not text.startswith("/*", offset) or offset >= end:
                break
            offset = min(_block_comment_end(text, offset), end)
        if offset >= end:
            return None
        stmt = Statement(text[offset:end].rstrip(), self.lines.at(offset), tuple(self.words[:3]))
        self.scan.statements.append(stmt)
        return stmt


def _is_identifier_char(text: str, i: int) -> bool:
    return i >= 0 and (text[i].isalnum() or text[i] in "_$")


def _block_comment_end(text: str, at: int) -> int:
    """Where the (nested) block comment opening at ``at`` ends; the text's end when it does not."""
    depth = 0
    for m in _COMMENT_MARK.finditer(text, at):
        depth += 1 if m.group() == "/*" else -1
        if depth == 0:
            return m.end()
    return len(text)


def scan(text: str) -> Scan:
    """Statements, psql-only lines and pg_dump directives of a file, in one linear pass."""
    return _Lexer(text).run()


def split_statements(text: str) -> list[Statement]:
    """Split SQL text into top-level statements where psql would; comment-only pieces are dropped."""
    return scan(text).statements


def has_statement(text: str) -> bool:
    """Whether ``text`` holds a statement, scanning it only when what follows its leading blanks and
    line comments is a block comment or a semicolon (a 10 MB file is not split to learn it is not empty)."""
    m = _LEADING_SPACE_AND_LINE_COMMENTS.match(text)
    end = m.end() if m else 0
    if end == len(text):
        return False
    return bool(split_statements(text)) if text[end] in ";/" else True  # a block comment, an empty statement


def line_of(text: str, position: int) -> int:
    """1-based line of a 1-based character position, as PostgreSQL reports ``statement_position``."""
    return text.count("\n", 0, max(position - 1, 0)) + 1


def without_dump_directives(text: str, found: Scan | None = None) -> str:
    """``text`` with pg_dump's ``\\restrict``/``\\unrestrict`` lines made comments (line numbers kept)."""
    spans = (found or scan(text)).directives
    if not spans:
        return text
    parts, pos = [], 0
    for start, end in spans:
        parts += [text[pos:start], "-- ", text[start:end]]
        pos = end
    parts.append(text[pos:])
    return "".join(parts)


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
    """Lines only psql can run (``\\i``, ``\\connect``, ``COPY ... FROM stdin``): psql, not SQL."""
    return [line for line, _ in scan(text).psql_only]


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
