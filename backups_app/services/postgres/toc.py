"""Reading a custom archive's table of contents (`pg_restore --list --verbose`).

The verbose list gives each entry's dependencies, which is what lets a
single table come back with its indexes, constraints and triggers: plain
`pg_restore --table` restores the table and its data only.
"""

import contextlib
import os
import re
import tempfile
from dataclasses import dataclass, field

from backups_app.services.postgres import binaries, reading
from backups_app.services.postgres.proc import last_lines

_ENTRY = re.compile(r"^(\d+);\s+(\d+)\s+(\d+)\s+(.*)$")
# Kinds made of two words come first so "TABLE DATA" is not read as "TABLE".
KINDS = sorted([
    "TABLE DATA", "TABLE ATTACH", "INDEX ATTACH", "FK CONSTRAINT", "SEQUENCE SET", "SEQUENCE OWNED BY",
    "MATERIALIZED VIEW DATA", "MATERIALIZED VIEW", "FOREIGN TABLE", "ROW SECURITY", "DEFAULT ACL",
    "SHELL TYPE", "OPERATOR CLASS", "OPERATOR FAMILY", "TEXT SEARCH CONFIGURATION",
    "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE", "EVENT TRIGGER",
    "FOREIGN DATA WRAPPER", "SERVER", "USER MAPPING", "LARGE OBJECT", "BLOB", "BLOBS",
    "DATABASE PROPERTIES", "PUBLICATION TABLE", "PUBLICATION TABLES IN SCHEMA", "SECURITY LABEL",
    "TABLE", "INDEX", "CONSTRAINT", "TRIGGER", "SEQUENCE", "VIEW", "FUNCTION", "PROCEDURE", "AGGREGATE",
    "TYPE", "DOMAIN", "SCHEMA", "EXTENSION", "COMMENT", "ACL", "DEFAULT", "POLICY", "RULE", "STATISTICS",
    "COLLATION", "CONVERSION", "OPERATOR", "CAST", "TRANSFORM", "ENCODING", "STDSTRINGS", "SEARCHPATH",
    "DATABASE", "PUBLICATION", "SUBSCRIPTION", "PROCEDURAL LANGUAGE", "ACCESS METHOD",
], key=len, reverse=True)
TABLE_KINDS = ("TABLE", "FOREIGN TABLE")
# Things a table's definition may need that are not themselves data: restored
# with a single table when it depends on them.
DEFINITION_KINDS = {
    "SCHEMA", "TYPE", "SHELL TYPE", "DOMAIN", "FUNCTION", "PROCEDURE", "AGGREGATE", "SEQUENCE", "COLLATION",
    "EXTENSION", "OPERATOR", "OPERATOR CLASS", "OPERATOR FAMILY", "CONVERSION", "CAST", "TRANSFORM",
    "TEXT SEARCH CONFIGURATION", "TEXT SEARCH DICTIONARY", "TEXT SEARCH PARSER", "TEXT SEARCH TEMPLATE",
    "PROCEDURAL LANGUAGE", "ACCESS METHOD",
}
# What belongs to a table and comes back with it.
ATTACHED_KINDS = {
    "TABLE DATA", "INDEX", "CONSTRAINT", "FK CONSTRAINT", "TRIGGER", "DEFAULT", "SEQUENCE OWNED BY",
    "COMMENT", "ACL", "POLICY", "ROW SECURITY", "RULE", "STATISTICS", "SECURITY LABEL",
}
# Comments and grants that hang off a definition we bring along.
DECORATION_KINDS = {"COMMENT", "ACL", "SEQUENCE SET", "SECURITY LABEL"}
# What is built on a table and must be dropped and rebuilt with it when the
# table replaces an existing one (views, other tables' foreign keys to it ...).
DEPENDENT_KINDS = {
    "VIEW", "MATERIALIZED VIEW", "MATERIALIZED VIEW DATA", "FK CONSTRAINT", "RULE", "TRIGGER", "INDEX", "COMMENT",
    "ACL", "POLICY", "SECURITY LABEL",
}


class ArchiveUnreadable(Exception):
    pass


@dataclass
class Entry:
    dump_id: int
    kind: str
    schema: str
    name: str
    owner: str
    line: str
    deps: list[int] = field(default_factory=list)

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


def shown(schema: str, name: str) -> str:
    """How the list shows a real schema and name: pg_restore writes a line break in a name as a space."""
    return f"{schema} {name}".replace("\r", " ").replace("\n", " ")


@dataclass
class Toc:
    header: dict
    entries: list[Entry]

    def by_id(self) -> dict[int, Entry]:
        return {e.dump_id: e for e in self.entries}

    def tables(self) -> list[Entry]:
        return [e for e in self.entries if e.kind in TABLE_KINDS]

    def find_table(self, schema: str, name: str) -> Entry | None:
        return next((e for e in self.tables() if e.schema == schema and e.name == name), None)

    def data_tables(self) -> set[str]:
        return {e.qualified for e in self.entries if e.kind == "TABLE DATA"}


def parse(text: str) -> Toc:
    header, entries = {}, []
    for raw in text.splitlines():
        line = raw.rstrip("\n")
        if line.startswith(";\tdepends on:") and entries:
            entries[-1].deps = [int(x) for x in line.split(":", 1)[1].split()]
            continue
        if line.startswith(";"):
            key, sep, value = line[1:].strip().partition(":")
            if sep and key:
                header.setdefault(key.strip(), value.strip())
            continue
        m = _ENTRY.match(line)
        if m:
            entries.append(_entry(int(m.group(1)), m.group(4), line))
    return Toc(header, entries)


def _entry(dump_id: int, rest: str, line: str) -> Entry:
    kind = next((k for k in KINDS if rest.startswith(k + " ")), rest.split(" ", 1)[0])
    parts = rest[len(kind):].strip().split(" ")
    schema = parts[0] if parts else ""
    owner = parts[-1] if len(parts) > 2 else ""
    name = " ".join(parts[1:-1]) if len(parts) > 2 else (parts[1] if len(parts) > 1 else "")
    return Entry(dump_id, kind, schema, name, owner, line)


def read(path, *, server_major: int | None = None, stdin=None, dump_version: str = "") -> Toc:
    """The archive's table of contents; ArchiveUnreadable when pg_restore cannot read it.

    stdin: the archive as a stream instead of the file at path (only its head is read).
    dump_version: the pg_dump that wrote it, as recorded (a stream has no header to read it from).
    """
    tool = binaries.pg_restore_for(path, server_major=server_major, dump_version=dump_version)
    listed = reading.list_archive(tool, path, verbose=True, stdin=stdin)
    if not listed.ok:
        raise ArchiveUnreadable(f"the archive cannot be read: {last_lines(listed.stderr, 3)}")
    return parse(listed.stdout.decode("utf-8", "replace"))


@contextlib.contextmanager
def list_file(lines: list[str]):
    """A private --use-list file holding these TOC lines, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="bc-list-") as tmp:
        path = os.path.join(tmp, "toc.list")
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")
        yield path


@dataclass
class Selection:
    lines: list[str]
    skipped: list[str]


def select_tables(toc: Toc, tables: list[tuple[str, str]], *, present=lambda entry: False,
                  replacing: bool = False) -> Selection:
    """The entries that restore `tables` with everything that belongs to them.

    `present(entry)` says whether a needed definition (or another table)
    already exists where we restore; such entries are not restored again.
    Anything that needs a table we neither restore nor find is skipped and
    reported (e.g. a foreign key to a table left out). `replacing`: the
    tables replace existing ones (pg_restore --clean), so whatever the archive
    builds on them (views, foreign keys pointing at them) is dropped and
    rebuilt with them instead of blocking the drop.
    """
    by_id = toc.by_id()
    roots = {toc.find_table(s, t).dump_id for s, t in tables}
    chosen = set(roots)
    for e in toc.entries:
        if e.kind in ATTACHED_KINDS and roots & set(e.deps):
            chosen.add(e.dump_id)
    if replacing:
        chosen |= _dependents(toc, chosen)
    definitions = {d for i in list(chosen) for d in _definitions_needed(by_id, i)}
    existing = {d for d in definitions if present(by_id[d])}
    chosen |= definitions - existing
    chosen |= {e.dump_id for e in toc.entries if e.kind in DECORATION_KINDS and e.deps
               and set(e.deps) <= chosen and by_id[e.deps[0]].kind in DEFINITION_KINDS}
    return _settle(toc, by_id, chosen, existing, present)


def _dependents(toc: Toc, chosen: set[int]) -> set[int]:
    found, changed = set(chosen), True
    while changed:
        changed = False
        for e in toc.entries:
            if e.dump_id not in found and e.kind in DEPENDENT_KINDS and found & set(e.deps):
                found.add(e.dump_id)
                changed = True
    return found - chosen


def _definitions_needed(by_id, dump_id: int) -> set[int]:
    needed, stack = set(), list(by_id[dump_id].deps)
    while stack:
        d = stack.pop()
        entry = by_id.get(d)
        if d in needed or entry is None or entry.kind not in DEFINITION_KINDS:
            continue
        needed.add(d)
        stack.extend(entry.deps)
    return needed


def _settle(toc, by_id, chosen: set[int], existing: set[int], present) -> Selection:
    """Leave out whatever needs something neither restored nor already there."""
    found: dict[int, bool] = {d: True for d in existing}

    def there(d: int) -> bool:
        if d in chosen:
            return True
        if d not in found:
            found[d] = present(by_id[d])
        return found[d]

    skipped, changed = [], True
    while changed:
        changed = False
        for i in sorted(chosen):
            missing = [d for d in by_id[i].deps if d in by_id and _matters(by_id[d]) and not there(d)]
            if missing:
                chosen.discard(i)
                need = by_id[missing[0]]
                skipped.append(f"{by_id[i].kind} {by_id[i].name} (needs {need.kind.lower()} {need.qualified}, "
                               "which is not restored)")
                changed = True
    lines = [e.line for e in toc.entries if e.dump_id in chosen]
    return Selection(lines, sorted(set(skipped)))


def _matters(entry: Entry) -> bool:
    # Entries such as ENCODING carry no object that another could miss.
    return entry.kind not in {"ENCODING", "STDSTRINGS", "SEARCHPATH", "DATABASE"}
