"""Column options a restore leaves out: pg_attver, which Debian's PostgreSQL 15.20 keeps on every column itself.

Debian's 15.20 gives every column it creates an attribute option
`pg_attver=<n>` and keeps it itself: a value given in ALTER COLUMN ... SET
is ignored. Its own pg_dump 15 leaves the option out of dumps; pg_dump 16 and
newer write it into each table's definition (`ALTER TABLE ONLY public.t
ALTER COLUMN a SET (pg_attver=35373824, n_distinct=5);`), and every other
server rejects it (`unrecognized parameter "pg_attver"`). Which servers take
it is asked, not guessed from a version (refused_by: 16, 17 and 18 do not,
nor would a 15 built without Debian's change); a restore into one that does
not leaves the option out wherever a script sets it, as pg_dump 15 would
have. That loses nothing: a server that takes it sets its own value anyway.
Other options of the same statement (n_distinct, n_distinct_inherited)
stay; a statement left with none is left out whole.

Only statements are looked at, found as psql finds them: quoted strings and
names, dollar-quoted bodies, comments and psql's backslash commands are
followed, so a function body or a comment that reads the same is no
statement; and what follows `COPY ... FROM stdin;` is table data, passed on
untouched up to its closing `\\.` line, whatever its rows hold.
"""

import re

import psycopg

from backups_app.services.postgres import reading

LEFT_OUT = frozenset({b"pg_attver"})
WHY = ("pg_attver, an option Debian's PostgreSQL 15 sets on every column itself (pg_dump 16 and newer write it; "
       "other servers reject it)")
# A statement setting column options is a few hundred bytes; a longer one passes on as it comes, unread.
HELD_AT_MOST = 64 * 1024
_SCAN_STEP = 64 * 1024  # an archive's definitions are read this much at a time, up to the first such statement

_NAME = rb'(?:[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*|"(?:[^"]|"")+")'
_SET_OPTIONS = re.compile(
    rb"ALTER\s+(?:FOREIGN\s+)?TABLE\s+(?:IF\s+EXISTS\s+)?(?:ONLY\s+)?" + _NAME + rb"(?:\s*\.\s*" + _NAME + rb")?"
    rb"\s+ALTER\s+(?:COLUMN\s+)?" + _NAME + rb"\s+SET\s*\((?P<options>[^()'\";]*)\)\s*;", re.IGNORECASE)
_STRINGS_SETTING = re.compile(rb"SET\s+standard_conforming_strings\s*(?:=|TO)\s*'?(on|off)'?\s*;", re.IGNORECASE)
_META_COPY = re.compile(rb"\\copy\b.*\bfrom\s+p?stdin\b", re.IGNORECASE)

# What matters between statements and inside one: a word, a number, a quote, a dollar, a
# parenthesis, the end of a statement, a psql command, a comment; a lone - or / at the end may
# still become a comment.
_TOKEN = re.compile(rb"[A-Za-z_\x80-\xff][A-Za-z0-9_$\x80-\xff]*|[0-9][0-9A-Za-z_.]*|[$'\"();\\]|--|/\*|[-/]\Z")
# Once a statement's first words are known, words no longer matter: what lies between the tokens that
# do (quotes, dollars, ends, commands, comments) is skipped in one go, its parentheses counted. A $
# after a letter or digit goes on a name, as psql reads it.
_PLAIN = re.compile(rb"(?:[^'\"$;\\\-/]|(?<=[A-Za-z0-9_\x80-\xff])\$)+")
# Between statements: blanks and whole comment lines go out as they are.
_BETWEEN = re.compile(rb"(?:\s+|--[^\n]*\n)+")
_WORD_BYTES = frozenset(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_" + bytes(range(0x80, 0x100)))
_DOLLAR_TAG = re.compile(rb"\$(?:[A-Za-z_\x80-\xff][A-Za-z0-9_\x80-\xff]*)?\$")
_DOLLAR_UNFINISHED = re.compile(rb"\$[A-Za-z0-9_\x80-\xff]*\Z")
_QUOTE_END = {False: re.compile(rb"'"), True: re.compile(rb"['\\]")}
_COMMENT_MARK = re.compile(rb"/\*|\*/")
_COPY_END_LINES = (b"\\.\n", b"\\.\r\n")
# psql's heuristic for CREATE FUNCTION ... BEGIN ATOMIC ... END: the first identifiers that count.
_FUNCTION_WORDS = (b"create", b"function", b"procedure", b"or", b"replace")

TOP, QUOTE, NAME, DOLLAR, LINE_COMMENT, BLOCK_COMMENT, META, COPY_LINE, COPY_DATA = range(9)


class ColumnOptions:
    """A SQL script in chunks in, the same script out without the left-out options; `.columns`: statements changed.

    feed() every chunk, then feed(b"", end=True): what it returns is the
    script so far. Bytes that may still belong to a statement being read are
    held back until it ends (at most HELD_AT_MOST of them). With nothing to
    leave out, every chunk passes as it is, unread.
    """

    def __init__(self, left_out: frozenset[bytes] = LEFT_OUT):
        self.left_out, self.columns = left_out, 0
        self._buf, self._pos, self._done = b"", 0, 0  # _done: what is before it has gone out
        self._out: list[bytes] = []
        self._state, self._end, self._eat_newline = TOP, False, False
        self._escapes, self._standard_strings = False, True
        self._tag, self._depth, self._line_start = b"", 0, False
        self._new_statement()

    def _new_statement(self) -> None:
        self._start = None  # where the statement began in _buf; None: between statements
        self._holding = False
        self._paren = self._begin = self._words = 0
        self._ids, self._function = [b"", b"", b"", b""], False
        self._first = self._prev = b""
        self._copy_in = False

    def feed(self, chunk: bytes, *, end: bool = False) -> bytes:
        if not self.left_out:
            return chunk
        self._buf += chunk
        self._end = end
        while self._step():
            pass
        if self._holding and self._pos - self._start > HELD_AT_MOST:
            self._holding = False
        if end:
            self._pos = len(self._buf)
            self._holding = False
        if not self._holding:
            self._emit(self._pos)
        out, self._out = b"".join(self._out), []
        cut = max(self._done - 2, 0)  # two bytes gone out stay: an E before a quote, a letter before a $
        self._buf = self._buf[cut:]
        self._pos, self._done = self._pos - cut, self._done - cut
        if self._start is not None:
            self._start = max(self._start - cut, 0)
        return out

    def _emit(self, upto: int) -> None:
        if upto > self._done:
            self._out.append(self._buf[self._done:upto])
            self._done = upto

    def _step(self) -> bool:
        """Read on from _pos; False when nothing more can be told without the next chunk."""
        if self._pos >= len(self._buf):
            return False
        return _STEPS[self._state](self)

    # -- between and inside statements ------------------------------------------------------------

    def _top(self) -> bool:
        buf = self._buf
        if self._eat_newline:
            self._eat_newline = False
            if buf[self._pos:self._pos + 1] == b"\n":
                self._pos = self._done = self._pos + 1
                return True
        if self._start is None:
            between = _BETWEEN.match(buf, self._pos)
            if between and between.end() < len(buf):
                self._pos = between.end()
        elif self._words >= 4 and not self._function and self._first != b"copy":
            plain = _PLAIN.match(buf, self._pos)
            if plain:
                skipped = plain.group()
                self._paren = max(self._paren + skipped.count(b"(") - skipped.count(b")"), 0)
                self._pos = plain.end()
                return True
        m = _TOKEN.search(buf, self._pos)
        if m is None:
            self._lead(len(buf))
            self._pos = len(buf)
            return False
        s, e = m.span()
        token = m.group()
        if e == len(buf) and not self._end and token[:1] not in b"'\"();\\" and token not in (b"--", b"/*"):
            self._lead(s)  # a word or number may go on in the next chunk
            self._pos = s
            return False
        self._lead(s)
        self._pos = e
        first = token[:1]
        if token == b"--":
            self._state = LINE_COMMENT
        elif token == b"/*":
            self._state, self._depth = BLOCK_COMMENT, 1
        elif first == b"\\":
            self._state = META
            self._pos = s
        elif first in b"-/":
            self._begin_statement(s)
        elif first == b"$":
            return self._dollar(s)
        else:
            self._begin_statement(s)
            self._symbol(token, s, e)
        return True

    def _lead(self, upto: int) -> None:
        """What _TOKEN skipped: anything but blanks begins a statement."""
        if self._start is None:
            skipped = self._buf[self._pos:upto]
            stripped = skipped.lstrip()
            if stripped:
                self._begin_statement(upto - len(stripped))

    def _begin_statement(self, at: int) -> None:
        if self._start is None:
            self._emit(at)
            self._start, self._holding = at, True

    def _symbol(self, token: bytes, s: int, e: int) -> None:
        first = token[:1]
        if first == b"'":
            self._state, self._escapes = QUOTE, not self._standard_strings or self._e_prefixed(s)
        elif first == b'"':
            self._state = NAME
        elif first == b"(":
            self._paren += 1
        elif first == b")":
            self._paren = max(self._paren - 1, 0)
        elif first == b";":
            if self._paren == 0 and self._begin == 0:
                self._end_statement(e)
                return
        elif first.isalpha() or first == b"_" or first >= b"\x80":
            if token in (b"E", b"e") and self._buf[e:e + 1] == b"'":
                self._state, self._escapes, self._pos = QUOTE, True, e + 1
            else:
                self._word(token.lower())
                return
        self._prev = b""

    def _e_prefixed(self, s: int) -> bool:
        """E'...' (escapes): an E alone before the quote, its letter skipped with the plain bytes."""
        buf = self._buf
        return buf[s - 1:s] in (b"E", b"e") and (s < 2 or buf[s - 2] not in _WORD_BYTES)

    def _dollar(self, s: int) -> bool:
        m = _DOLLAR_TAG.match(self._buf, s)
        if m:
            self._begin_statement(s)
            self._state, self._tag, self._pos = DOLLAR, m.group(), m.end()
        elif not self._end and _DOLLAR_UNFINISHED.match(self._buf, s):
            self._pos = s  # perhaps a tag the next chunk completes
            return False
        else:
            self._begin_statement(s)
            self._pos = s + 1  # $1, or a lone $
        self._prev = b""
        return True

    def _word(self, word: bytes) -> None:
        """psql's bookkeeping: which statement this is, and BEGIN ... END inside CREATE FUNCTION."""
        if self._words < 4 and word in _FUNCTION_WORDS:
            self._ids[self._words] = word[:1]
        self._words += 1
        ids = self._ids
        self._function = in_function = ids[0] == b"c" and (ids[1] in (b"f", b"p") or (
            ids[1] == b"o" and ids[2] == b"r" and ids[3] in (b"f", b"p")))
        if in_function and self._paren == 0:
            if word == b"begin" or (word == b"case" and self._begin >= 1):
                self._begin += 1
            elif word == b"end" and self._begin > 0:
                self._begin -= 1
        if self._words == 1:
            self._first = word
        if self._first == b"copy" and self._prev == b"from" and word == b"stdin":
            self._copy_in = True
        self._prev = word

    def _end_statement(self, e: int) -> None:
        if self._holding:
            statement = self._buf[self._start:e]
            kept = self._kept(statement)
            self._out.append(kept)
            self._done = e
            self._eat_newline = not kept
        copy_in = self._copy_in
        self._new_statement()
        if copy_in:
            self._state = COPY_LINE

    def _kept(self, statement: bytes) -> bytes:
        """The statement as it goes on: without the left-out options, or nothing when none is left."""
        setting = _STRINGS_SETTING.fullmatch(statement)
        if setting:
            self._standard_strings = setting.group(1).lower() == b"on"
        m = _SET_OPTIONS.fullmatch(statement)
        if not m:
            return statement
        options = m.group("options").split(b",")
        kept = [o.strip() for o in options if o.split(b"=", 1)[0].strip().lower() not in self.left_out]
        if len(kept) == len(options):
            return statement
        self.columns += 1
        if not kept:
            return b""
        return statement[:m.start("options")] + b", ".join(kept) + statement[m.end("options"):]

    # -- inside a token -----------------------------------------------------------------------------

    def _quote(self) -> bool:
        """A string ('' doubles a quote; in E'' strings, or without standard_conforming_strings, \\ escapes)."""
        buf = self._buf
        m = _QUOTE_END[self._escapes].search(buf, self._pos)
        if m is None:
            self._pos = len(buf)
            return False
        i = m.start()
        if i + 1 == len(buf) and not self._end:
            self._pos = i  # an escape, or a quote that may be doubled: the next byte tells
            return False
        if buf[i:i + 1] == b"\\" or buf[i + 1:i + 2] == b"'":
            self._pos = i + 2
        else:
            self._pos, self._state = i + 1, TOP
        return True

    def _name(self) -> bool:
        buf = self._buf
        i = buf.find(b'"', self._pos)
        if i < 0:
            self._pos = len(buf)
            return False
        if i + 1 == len(buf) and not self._end:
            self._pos = i
            return False
        if buf[i + 1:i + 2] == b'"':
            self._pos = i + 2
        else:
            self._pos, self._state = i + 1, TOP
        return True

    def _dollar_body(self) -> bool:
        buf = self._buf
        i = buf.find(self._tag, self._pos)
        if i < 0:
            self._pos = max(self._pos, len(buf) - len(self._tag) + 1)
            return False
        self._pos, self._state = i + len(self._tag), TOP
        return True

    def _line_comment(self) -> bool:
        i = self._buf.find(b"\n", self._pos)
        if i < 0:
            self._pos = len(self._buf)
            return False
        self._pos, self._state = i + 1, TOP
        return True

    def _block_comment(self) -> bool:
        buf = self._buf
        m = _COMMENT_MARK.search(buf, self._pos)
        if m is None:
            self._pos = max(self._pos, len(buf) - 1)  # a final / or * may begin a mark
            return False
        self._depth += 1 if m.group() == b"/*" else -1
        self._pos = m.end()
        if self._depth == 0:
            self._state = TOP
        return True

    def _meta(self) -> bool:
        """A psql backslash command: the rest of its line. \\copy ... from stdin reads rows from the script too."""
        buf = self._buf
        i = buf.find(b"\n", self._pos)
        if i < 0:
            if not self._end:
                return False
            i = len(buf) - 1
        copy_in = bool(_META_COPY.match(buf, self._pos, i))
        self._pos = i + 1
        self._state, self._line_start = (COPY_DATA, True) if copy_in else (TOP, False)
        return True

    # -- table data -----------------------------------------------------------------------------------

    def _copy_line(self) -> bool:
        """The rest of the COPY command's line; the rows begin on the next one."""
        i = self._buf.find(b"\n", self._pos)
        if i < 0:
            self._pos = len(self._buf)
            return False
        self._pos, self._state, self._line_start = i + 1, COPY_DATA, True
        return True

    def _copy_data(self) -> bool:
        """Rows, passed on unread up to the line `\\.` (a row cannot be that line: its backslash would be doubled)."""
        buf = self._buf
        if self._line_start:
            rest = buf[self._pos:self._pos + 4]
            ended = next((line for line in _COPY_END_LINES if rest.startswith(line)), None)
            if ended:
                self._pos, self._state = self._pos + len(ended), TOP
                return True
            if not self._end and len(rest) < 4 and any(line.startswith(rest) for line in _COPY_END_LINES):
                return False
            self._line_start = False
        i = buf.find(b"\n\\.", self._pos)
        if i >= 0:
            self._pos, self._line_start = i + 1, True
            return True
        tail = 1 if buf.endswith(b"\n\\") else 0
        self._pos, self._line_start = len(buf) - tail, buf.endswith((b"\n", b"\n\\"))
        return False


_STEPS = {
    TOP: ColumnOptions._top, QUOTE: ColumnOptions._quote, NAME: ColumnOptions._name,
    DOLLAR: ColumnOptions._dollar_body, LINE_COMMENT: ColumnOptions._line_comment,
    BLOCK_COMMENT: ColumnOptions._block_comment, META: ColumnOptions._meta, COPY_LINE: ColumnOptions._copy_line,
    COPY_DATA: ColumnOptions._copy_data,
}


def refused_by(mconn: psycopg.Connection) -> frozenset[bytes]:
    """The options of LEFT_OUT this server does not take: those it does not set itself on a new column.

    A server that takes pg_attver (Debian's 15.20) sets it on every column it
    creates, temporary ones too. Asking that way, in a transaction rolled
    back, leaves no ERROR in the server's log as trying the option would.
    When the server will not let us ask (no TEMP privilege): all of them, as
    leaving an option out loses nothing where the server sets its own.
    """
    try:
        with mconn.transaction(force_rollback=True):
            mconn.execute("CREATE TEMP TABLE bc_column_options_probe (a int)")
            (options,) = mconn.execute("SELECT attoptions FROM pg_attribute WHERE attnum = 1 AND "
                                       "attrelid = 'bc_column_options_probe'::regclass").fetchone()
    except psycopg.Error:
        return LEFT_OUT
    return LEFT_OUT - {option.split("=", 1)[0].encode() for option in options or ()}


def leave_out(script: bytes, left_out: frozenset[bytes] = LEFT_OUT) -> tuple[bytes, int]:
    """A whole script without the left-out options, and how many statements changed."""
    f = ColumnOptions(left_out)
    return f.feed(script, end=True), f.columns


def set_in_archive(tool, path, left_out: frozenset[bytes], *, stdin=None) -> bool:
    """Whether an archive's definitions set an option left out (False too when they cannot be read here).

    Only the pre-data section is written (the definitions, from the head of
    the archive): no table data is read. Most archives never name the option
    and are not read further; the others only up to their first such
    statement. A failure is left to the restore itself, which says it better.
    """
    script = reading.archive_script(tool, path, stdin=stdin, section="pre-data")
    if not script.ok or not any(option in script.stdout for option in left_out):
        return False
    f = ColumnOptions(left_out)
    for i in range(0, len(script.stdout), _SCAN_STEP):
        f.feed(script.stdout[i:i + _SCAN_STEP])
        if f.columns:
            return True
    f.feed(b"", end=True)
    return f.columns > 0


def note(columns: int) -> str:
    """The line a restore's record gets when options were left out ("" when none)."""
    if not columns:
        return ""
    return f"left out of {columns} column(s)' options: {WHY}; other column options kept"
